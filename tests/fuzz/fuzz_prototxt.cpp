// libFuzzer target: the .prototxt reader (protobuf text format and Caffe's net rules) and the
// shape inference that a network is built from. Whatever the input, the result is a graph
// whose layers read the input or earlier layers and whose shapes follow from those, or a
// graft::Error.
#include <string>

#include "fuzz_common.hpp"
#include "graft/io/prototxt.hpp"
#include "graft/nn/caffe.hpp"

using namespace graft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const io::ReadLimits limits = fuzz::limits();
  io::CaffeNet net;
  try {
    net = io::parse_prototxt(text, "fuzz.prototxt", limits);
  } catch (const Error&) {
    return 0;
  }
  GRAFT_FUZZ_ASSERT(!net.layers.empty() && !net.input.empty());
  GRAFT_FUZZ_ASSERT(net.input_shape.rank() == 2 || net.input_shape.rank() == 4);
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const io::CaffeNetLayer& l = net.layers[i];
    GRAFT_FUZZ_ASSERT(!l.bottoms.empty() && l.inputs.size() == l.bottoms.size());
    for (size_t j = 0; j < l.inputs.size(); ++j) {
      const int k = l.inputs[j];
      GRAFT_FUZZ_ASSERT(k >= io::CaffeNetLayer::kInput && k < int(i));
      GRAFT_FUZZ_ASSERT(l.bottoms[j] == (k < 0 ? net.input : net.layers[size_t(k)].top));
    }
    GRAFT_FUZZ_ASSERT(l.type != "Softmax" || i + 1 == net.layers.size());
  }
  try {
    const std::vector<nn::CaffeLayerShape> shapes = nn::caffe_shapes(net, limits);
    GRAFT_FUZZ_ASSERT(shapes.size() == net.layers.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      GRAFT_FUZZ_ASSERT(shapes[i].out.numel() > 0);
      const int k = net.layers[i].inputs[0];
      GRAFT_FUZZ_ASSERT(k < 0 || shapes[i].in == shapes[size_t(k)].out);
      GRAFT_FUZZ_ASSERT(uint64_t(shapes[i].weights.numel()) * 4 <= limits.max_array_bytes);
    }
  } catch (const Error&) {
  }
  return 0;
}
