// A small residual network for the graph tests, on any scalar and device (the CPU tests in
// double, the CUDA tests against them):
//   input (2, 6, 6)
//   stem 3x3 conv -> 4, stem_relu                    (read by b1 and by res: two readers)
//   b1 3x3 conv, b1_relu, b2 3x3 conv
//   res = b2 + stem_relu, res_relu, apool 2x2/2 avg  (read by c1 and by res2)
//   c1 3x3 conv -> 6 channels
//   res2 = c1 + apool zero-padded to 6 channels, gap (global average), fc 3
// Include a backend before this header.
#pragma once

#include <cstdint>
#include <memory>

#include "graft/nn/network.hpp"

namespace graft {
namespace test {

template <class T, class D>
std::unique_ptr<nn::Network<T, D>> residual_net(uint64_t seed) {
  auto net = std::make_unique<nn::Network<T, D>>(Shape{2, 6, 6});
  net->conv("stem", 4, 3, 1, 1).relu("stem_relu");
  net->conv("b1", 4, 3, 1, 1).relu("b1_relu").conv("b2", 4, 3, 1, 1);
  net->sum("res", {"b2", "stem_relu"}).relu("res_relu").avg_pool("apool", 2, 2);
  net->conv("c1", 6, 3, 1, 1);
  net->add(std::make_unique<Add<T, D>>("res2", /*zero_pad=*/true), {"c1", "apool"});
  net->global_avg_pool("gap").fc("fc", 3);
  net->initialize(seed);
  return net;
}

}  // namespace test
}  // namespace graft
