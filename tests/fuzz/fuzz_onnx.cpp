// libFuzzer target: the ONNX reader (protobuf wire format) and the network planner. Whatever
// the input, read_onnx returns a model or throws graft::Error; a model it returns is
// consistent (every tensor holds exactly its dims' values), is written again by onnx_bytes
// and read back the same, and nn::onnx_plan on it either plans a network or throws
// graft::Error. (External data is refused: the source is memory, with no folder.)
#include "fuzz_common.hpp"
#include "graft/io/onnx.hpp"
#include "graft/nn/onnx_plan.hpp"

using namespace graft;

namespace {
bool same_tensors(const std::vector<io::OnnxTensor>& a, const std::vector<io::OnnxTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || !fuzz::same(a[i].data, b[i].data)) return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.onnx");
  io::OnnxModel m;
  try {
    m = io::read_onnx(src, "", fuzz::limits());
  } catch (const Error&) {
    return 0;
  }
  for (const auto& t : m.graph.initializers) {
    GRAFT_FUZZ_ASSERT(t.external.empty());
    GRAFT_FUZZ_ASSERT(t.data.nbytes() == size_t(t.data.shape().numel()) * io::itemsize(t.data.dtype()));
    double sum = 0;
    for (int64_t i = 0; i < t.data.size(); ++i) sum += t.data.value(i);  // every value is readable
    (void)sum;
  }
  // Written again (attributes of the kinds graft writes) and read back: the same tensors and nodes.
  bool writable = true;
  for (const auto& n : m.graph.nodes)
    for (const auto& a : n.attributes) {
      const auto t = a.type;
      writable = writable && (t == io::OnnxAttrType::f || t == io::OnnxAttrType::i || t == io::OnnxAttrType::s ||
                              t == io::OnnxAttrType::floats || t == io::OnnxAttrType::ints ||
                              (t == io::OnnxAttrType::tensor && a.tensors.size() == 1));
    }
  if (writable) {
    const std::string again = io::onnx_bytes(m);
    io::MemorySource src2(again.data(), again.size(), "round-trip.onnx");
    const io::OnnxModel b = io::read_onnx(src2, "", fuzz::limits());
    GRAFT_FUZZ_ASSERT(same_tensors(m.graph.initializers, b.graph.initializers));
    GRAFT_FUZZ_ASSERT(m.graph.nodes.size() == b.graph.nodes.size());
    for (size_t i = 0; i < m.graph.nodes.size(); ++i)
      GRAFT_FUZZ_ASSERT(m.graph.nodes[i].op_type == b.graph.nodes[i].op_type &&
                        m.graph.nodes[i].inputs == b.graph.nodes[i].inputs);
  }
  try {
    nn::OnnxPlan plan = nn::onnx_plan(m);
    GRAFT_FUZZ_ASSERT(!plan.nodes.empty());
  } catch (const Error&) {
  }
  return 0;
}
