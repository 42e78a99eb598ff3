// libFuzzer target: NPY parsing. Whatever the input, read_npy returns an array or throws
// graft::Error; an array it returns is consistent and survives a write/read round trip.
#include "fuzz_common.hpp"
#include "graft/io/npy.hpp"

using namespace graft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.npy");
  io::Array a;
  try {
    io::RangeInput in(src);
    a = io::read_npy(in, fuzz::limits());
  } catch (const Error&) {
    return 0;
  }
  GRAFT_FUZZ_ASSERT(a.nbytes() == size_t(a.shape().numel()) * io::itemsize(a.dtype()));
  fuzz::Sink out;
  io::write_npy_bytes(out, a);
  io::MemorySource again(out.s.data(), out.s.size(), "round-trip.npy");
  io::RangeInput in2(again);
  GRAFT_FUZZ_ASSERT(fuzz::same(io::read_npy(in2, fuzz::limits()), a));
  double sum = 0;
  for (int64_t i = 0; i < a.size(); ++i) sum += a.value(i);  // every element is readable
  (void)sum;
  return 0;
}
