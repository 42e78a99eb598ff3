// libFuzzer target: the restricted unpickler and the weights dict built from its result.
// The input is a raw pickle (the body of a caffe-tensorflow file). A dict it accepts is
// written back by graft and must read back identically.
#include "fuzz_common.hpp"
#include "graft/io/weights.hpp"

using namespace graft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.pkl");
  io::WeightsDict w;
  try {
    io::RangeInput in(src);
    io::pickle::Unpickler u(in, fuzz::limits());
    const uint32_t root = u.run();
    w = io::detail::weights_from_pickle(u, root, fuzz::limits());
  } catch (const Error&) {
    return 0;
  }
  fuzz::Sink out;
  io::write_caffe_tensorflow_bytes(out, w);
  io::MemorySource again(out.s.data(), out.s.size(), "round-trip.npy");
  // Default limits: graft writes each dtype in full where the input may have shared one.
  const io::WeightsDict back = io::read_weights(again, io::ReadLimits{});
  GRAFT_FUZZ_ASSERT(back.layers().size() == w.layers().size());
  for (size_t i = 0; i < w.layers().size(); ++i) {
    GRAFT_FUZZ_ASSERT(back.layers()[i].name == w.layers()[i].name);
    GRAFT_FUZZ_ASSERT(back.layers()[i].params.size() == w.layers()[i].params.size());
    for (size_t k = 0; k < w.layers()[i].params.size(); ++k) {
      GRAFT_FUZZ_ASSERT(back.layers()[i].params[k].name == w.layers()[i].params[k].name);
      GRAFT_FUZZ_ASSERT(fuzz::same(back.layers()[i].params[k].array, w.layers()[i].params[k].array));
    }
  }
  return 0;
}
