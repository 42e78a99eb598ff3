// VGG16 with the Caffe layer names of VGG-Face (conv1_1 ... fc8), and the same geometry
// scaled down for machines without a GPU.
//
// vgg16(classes): 13 3x3 convolutions with ReLU in five blocks, each ended by a 2x2 max
// pool; fc6 4096, fc7 4096 (each followed by ReLU and, while training, dropout 0.5); fc8.
// The input is 224x224 BGR minus the VGG-Face mean (see graft/data).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

struct VggOptions {
  double width = 1.0;    // multiplies every conv and fc width (0.25: 16, 32, 64, 128, 128; fc 1024)
  int64_t input = 224;   // square input side; must survive five 2x2 pools (>= 32)
  float dropout = 0.5f;  // after fc6 and fc7 while training; 0 leaves the layers out
};

inline int64_t vgg_scaled(int64_t channels, double width) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(double(channels) * width)));
}

template <class T = float, class D = CPU>
void build_vgg16(Network<T, D>& net, int64_t classes, const VggOptions& o = {}) {
  GRAFT_CHECK(classes > 0, "vgg16: needs at least one class");
  const int blocks[5][2] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  for (int b = 0; b < 5; ++b) {
    for (int i = 1; i <= blocks[b][1]; ++i)
      net.conv("conv" + std::to_string(b + 1) + "_" + std::to_string(i),
               vgg_scaled(blocks[b][0], o.width), 3, 1, 1)
          .relu();
    net.max_pool("pool" + std::to_string(b + 1), 2, 2);
  }
  for (int f = 6; f <= 7; ++f) {
    net.fc("fc" + std::to_string(f), vgg_scaled(4096, o.width)).relu();
    if (o.dropout > 0) net.dropout(o.dropout);
  }
  net.fc("fc8", classes);
}

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> vgg16(int64_t classes, const VggOptions& o = {}) {
  GRAFT_CHECK(o.input >= 32, "vgg16: input side ", o.input, " is below 32, too small for five pools");
  GRAFT_CHECK(o.width > 0 && o.width <= 4, "vgg16: width multiplier ", o.width, " is out of (0, 4]");
  auto net = std::make_unique<Network<T, D>>(Shape{3, o.input, o.input});
  build_vgg16(*net, classes, o);
  return net;
}

// VGG-Face: VGG16 with 2,622 identities.
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> vgg_face(const VggOptions& o = {}) {
  return vgg16<T, D>(2622, o);
}

}  // namespace nn
}  // namespace graft
