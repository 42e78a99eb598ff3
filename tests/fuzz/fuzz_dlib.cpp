// libFuzzer target: the dlib network reader. Whatever the input, read_dlib returns a network
// or throws graft::Error; a network it returns is consistent (each record's arrays have the
// shapes its geometry says, the float count adds up) and survives being written again in
// dlib's format (tests/support/dlib_files.hpp) and read back unchanged.
#include "fuzz_common.hpp"
#include "graft/io/dlib.hpp"
#include "support/dlib_files.hpp"

using namespace graft;

namespace {
bool same_net(const io::DlibNet& a, const io::DlibNet& b) {
  if (a.loss != b.loss || a.input != b.input || a.rows != b.rows || a.cols != b.cols || a.layers.size() != b.layers.size() ||
      a.float_count != b.float_count)
    return false;
  if (std::memcmp(a.mean, b.mean, sizeof a.mean) != 0) return false;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const io::DlibLayer &x = a.layers[i], &y = b.layers[i];
    if (x.kind != y.kind || x.version != y.version || x.outputs != y.outputs || x.inputs != y.inputs ||
        x.rows != y.rows || x.cols != y.cols || x.stride_y != y.stride_y || x.stride_x != y.stride_x ||
        x.pad_y != y.pad_y || x.pad_x != y.pad_x || x.bias != y.bias || x.mode != y.mode || x.disabled != y.disabled ||
        !fuzz::same(x.weights, y.weights) || !fuzz::same(x.biases, y.biases))
      return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.dat");
  io::DlibNet n;
  try {
    n = io::read_dlib(src, fuzz::limits());
  } catch (const Error&) {
    return 0;
  }
  GRAFT_FUZZ_ASSERT(!n.layers.empty() && n.layers[0].kind != io::DlibKind::tag);
  uint64_t floats = 0;
  for (const auto& l : n.layers) {
    floats += uint64_t(l.weights.size() + l.biases.size());
    if (l.kind == io::DlibKind::con) {
      GRAFT_FUZZ_ASSERT(l.weights.shape() == (Shape{l.outputs, l.inputs, l.rows, l.cols}));
      GRAFT_FUZZ_ASSERT(l.bias ? l.biases.shape() == Shape{l.outputs} : l.biases.size() == 0);
      GRAFT_FUZZ_ASSERT(l.pad_y < l.rows && l.pad_x < l.cols && l.stride_y >= 1 && l.stride_x >= 1);
    } else if (l.kind == io::DlibKind::fc) {
      GRAFT_FUZZ_ASSERT(l.weights.shape() == (Shape{l.inputs, l.outputs}));
    } else if (l.kind == io::DlibKind::affine) {
      GRAFT_FUZZ_ASSERT(l.weights.size() == l.outputs && l.biases.size() == l.outputs);
    } else {
      GRAFT_FUZZ_ASSERT(l.weights.size() == 0 && l.biases.size() == 0);
    }
  }
  GRAFT_FUZZ_ASSERT(floats == n.float_count);
  const std::string again = dlibtest::encode(n).bytes();
  io::MemorySource src2(again.data(), again.size(), "round-trip.dat");
  GRAFT_FUZZ_ASSERT(same_net(n, io::read_dlib(src2, fuzz::limits())));
  return 0;
}
