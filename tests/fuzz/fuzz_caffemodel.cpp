// libFuzzer target: the .caffemodel reader (protobuf wire format). Whatever the input,
// read_caffemodel returns a model or throws graft::Error; a model it returns is consistent
// (every blob holds exactly its shape's values) and survives being written again as a V2
// NetParameter and read back.
#include "fuzz_common.hpp"
#include "graft/io/caffemodel.hpp"
#include "support/caffe_files.hpp"

using namespace graft;

namespace {
bool same_model(const io::CaffeModel& a, const io::CaffeModel& b) {
  if (a.name != b.name || a.layers.size() != b.layers.size()) return false;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const io::CaffeLayer &x = a.layers[i], &y = b.layers[i];
    if (x.name != y.name || x.type != y.type || x.blobs.size() != y.blobs.size()) return false;
    for (size_t k = 0; k < x.blobs.size(); ++k)
      if (x.blobs[k].shape != y.blobs[k].shape || !fuzz::same(x.blobs[k].data, y.blobs[k].data)) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.caffemodel");
  io::CaffeModel m;
  try {
    m = io::read_caffemodel(src, fuzz::limits());
  } catch (const Error&) {
    return 0;
  }
  GRAFT_FUZZ_ASSERT(!m.layers.empty() && (m.format == 1 || m.format == 2));
  for (const auto& l : m.layers)
    for (const auto& b : l.blobs) {
      GRAFT_FUZZ_ASSERT(b.data.shape() == b.shape);
      GRAFT_FUZZ_ASSERT(b.data.dtype() == io::DType::f4 || b.data.dtype() == io::DType::f8);
      GRAFT_FUZZ_ASSERT(b.data.nbytes() == size_t(b.shape.numel()) * io::itemsize(b.data.dtype()));
      double sum = 0;
      for (int64_t i = 0; i < b.data.size(); ++i) sum += b.data.value(i);  // every value is readable
      (void)sum;
    }
  const std::string again = caffetest::encode_model(m);
  io::MemorySource src2(again.data(), again.size(), "round-trip.caffemodel");
  GRAFT_FUZZ_ASSERT(same_model(m, io::read_caffemodel(src2, fuzz::limits())));
  return 0;
}
