// The CPU side of test_cuda_layer_cases: a layer case (tests/support/layer_cases.hpp) run by
// the CPU layer. Declared without Eigen so that .cu files can include it; reference_cases.cpp,
// compiled by the host compiler, includes the CPU backend.
#pragma once

#include <string>
#include <vector>

#include "graft/core/tensor.hpp"

namespace graft {
namespace test {
namespace ref {

// The layer case `name` run by the CPU layer, in float (in_float, for the exact cases) or in
// double: parameters and buffers set to the given values (params() and buffers() order),
// forward on xs, backward from dy. dparams follows params() (empty for a frozen parameter),
// buffers buffers() after the forward (running statistics).
struct LayerRun {
  Tensor<double> y;
  std::vector<Tensor<double>> dx, dparams, buffers;
};
LayerRun layer_case(const std::string& name, bool in_float, const std::vector<Tensor<float>>& xs,
                    const std::vector<Tensor<float>>& params, const std::vector<Tensor<float>>& buffers,
                    const Tensor<float>& dy);

}  // namespace ref
}  // namespace test
}  // namespace graft
