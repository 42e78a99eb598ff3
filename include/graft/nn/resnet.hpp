// ResNet-18/34/50 with torchvision's geometry and node names, so that a torchvision
// state_dict loads by name (nn/weights_file.hpp) and graft's summaries read like PyTorch's.
//
//   auto net = nn::resnet18<float>(1000);                       // 224x224 RGB, ImageNet-normalised
//   nn::load_weights_file(net->layers(), "resnet18.npz");       // np.savez of the state_dict
//
// Geometry (torchvision.models.resnet, v1.5):
//   conv1 7x7/2 pad 3 (no bias), bn1, relu, maxpool 3x3/2 pad 1,
//   layer1..layer4 with 64, 128, 256, 512 planes, the first block of layer2..4 at stride 2,
//   avgpool (global average), fc.
// A BasicBlock (18, 34) is conv1 3x3/s, bn1, relu, conv2 3x3, bn2, then the sum with the
// shortcut and a relu; a Bottleneck (50) is conv1 1x1, bn1, relu, conv2 3x3/s, bn2, relu,
// conv3 1x1 to 4x planes, bn3, sum, relu (the stride on the 3x3 conv, as torchvision v1.5,
// not on the first 1x1 as in the original paper). The shortcut is the block's input, or
// downsample.0 (1x1/s conv, no bias) + downsample.1 (BatchNorm) when the stride is not 1 or
// the channel count changes. Node names are torchvision's module paths ("layer1.0.conv1",
// "layer1.0.downsample.1"); the nodes torchvision has no parameters for are named
// "<block>.relu1", "<block>.relu2" (inside), "<block>.add" and "<block>.relu" (the output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "graft/core/error.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"

namespace graft {
namespace nn {

struct ResNetOptions {
  int64_t input = 224;  // square input side (>= 32: five halvings)
  double width = 1.0;   // multiplies every channel count (0.125: 8, 16, 32, 64 planes)
};

// BatchNorm as torchvision builds it (eps 1e-5, momentum 0.1).
constexpr double kResNetBnEps = 1e-5, kResNetBnMomentum = 0.1;

namespace detail {
// The node the next chain call reads, by name ("input" for the network's input).
template <class T, class D>
std::string cursor_name(const Network<T, D>& net) {
  const int c = net.cursor();
  return c < 0 ? std::string("input") : net.layer(size_t(c)).name();
}

// The shortcut of a block reading `in` that ends with `out_channels` channels, and the sum
// of it with the residual branch ending at `branch`; leaves the cursor on "<prefix>.relu".
template <class T, class D>
std::string close_block(Network<T, D>& net, const std::string& prefix, const std::string& in,
                        const std::string& branch, int64_t out_channels, int stride) {
  const int64_t in_channels = net.shape_after(net.index_of(in))[1];
  std::string shortcut = in;
  if (stride != 1 || in_channels != out_channels) {
    net.from(in)
        .conv(prefix + ".downsample.0", out_channels, 1, stride, 0, false)
        .batch_norm(prefix + ".downsample.1", kResNetBnEps, kResNetBnMomentum);
    shortcut = prefix + ".downsample.1";
  }
  // torchvision adds the shortcut to the branch (out += identity); the order of two terms
  // does not change the sum.
  net.sum(prefix + ".add", {branch, shortcut}).relu(prefix + ".relu");
  return prefix + ".relu";
}
}  // namespace detail

// A BasicBlock reading the cursor; returns the name of its output node (the cursor after it).
template <class T, class D>
std::string basic_block(Network<T, D>& net, const std::string& prefix, int64_t planes, int stride = 1) {
  const std::string in = detail::cursor_name(net);
  net.conv(prefix + ".conv1", planes, 3, stride, 1, false)
      .batch_norm(prefix + ".bn1", kResNetBnEps, kResNetBnMomentum)
      .relu(prefix + ".relu1")
      .conv(prefix + ".conv2", planes, 3, 1, 1, false)
      .batch_norm(prefix + ".bn2", kResNetBnEps, kResNetBnMomentum);
  return detail::close_block(net, prefix, in, prefix + ".bn2", planes, stride);
}

// A Bottleneck (expansion 4, stride on the 3x3 conv) reading the cursor; returns its output.
template <class T, class D>
std::string bottleneck(Network<T, D>& net, const std::string& prefix, int64_t planes, int stride = 1,
                       int64_t expansion = 4) {
  const std::string in = detail::cursor_name(net);
  net.conv(prefix + ".conv1", planes, 1, 1, 0, false)
      .batch_norm(prefix + ".bn1", kResNetBnEps, kResNetBnMomentum)
      .relu(prefix + ".relu1")
      .conv(prefix + ".conv2", planes, 3, stride, 1, false)
      .batch_norm(prefix + ".bn2", kResNetBnEps, kResNetBnMomentum)
      .relu(prefix + ".relu2")
      .conv(prefix + ".conv3", planes * expansion, 1, 1, 0, false)
      .batch_norm(prefix + ".bn3", kResNetBnEps, kResNetBnMomentum);
  return detail::close_block(net, prefix, in, prefix + ".bn3", planes * expansion, stride);
}

// The whole network: `blocks` per stage, bottleneck blocks or basic ones.
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> resnet(const std::string& arch, const int (&blocks)[4], bool use_bottleneck,
                                      int64_t classes, const ResNetOptions& o) {
  GRAFT_CHECK(classes > 0, arch, ": needs at least one class");
  GRAFT_CHECK(o.input >= 32, arch, ": input side ", o.input, " is below 32, too small for five halvings");
  GRAFT_CHECK(o.width > 0 && o.width <= 4, arch, ": width multiplier ", o.width, " is out of (0, 4]");
  auto net = std::make_unique<Network<T, D>>(Shape{3, o.input, o.input});
  net->conv("conv1", vgg_scaled(64, o.width), 7, 2, 3, false)
      .batch_norm("bn1", kResNetBnEps, kResNetBnMomentum)
      .relu("relu")
      .max_pool("maxpool", 3, 2, 1);
  const int64_t planes[4] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s)
    for (int b = 0; b < blocks[s]; ++b) {
      const std::string prefix = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      const int stride = s > 0 && b == 0 ? 2 : 1;
      const int64_t p = vgg_scaled(planes[s], o.width);
      if (use_bottleneck)
        bottleneck(*net, prefix, p, stride);
      else
        basic_block(*net, prefix, p, stride);
    }
  net->global_avg_pool("avgpool").fc("fc", classes);
  return net;
}

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> resnet18(int64_t classes, const ResNetOptions& o = {}) {
  return resnet<T, D>("resnet18", {2, 2, 2, 2}, false, classes, o);
}
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> resnet34(int64_t classes, const ResNetOptions& o = {}) {
  return resnet<T, D>("resnet34", {3, 4, 6, 3}, false, classes, o);
}
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> resnet50(int64_t classes, const ResNetOptions& o = {}) {
  return resnet<T, D>("resnet50", {3, 4, 6, 3}, true, classes, o);
}

// resnet18/34/50 by name; null for another name.
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> resnet_by_name(const std::string& arch, int64_t classes, const ResNetOptions& o = {}) {
  if (arch == "resnet18") return resnet18<T, D>(classes, o);
  if (arch == "resnet34") return resnet34<T, D>(classes, o);
  if (arch == "resnet50") return resnet50<T, D>(classes, o);
  return nullptr;
}
inline bool is_resnet(const std::string& arch) {
  return arch == "resnet18" || arch == "resnet34" || arch == "resnet50";
}

}  // namespace nn
}  // namespace graft
