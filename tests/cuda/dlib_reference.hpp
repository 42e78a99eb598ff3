// The CPU side of the [cuda] dlib test: dlib's face ResNet on graft's CPU backend, compiled
// by the host compiler (dlib_reference.cpp) so that the .cu file includes no Eigen.
#pragma once

#include <string>
#include <vector>

#include "graft/core/tensor.hpp"

namespace graft {
namespace test {
namespace ref {

// Descriptors (n, 128) of network inputs x (n, 3, 150, 150) with the weights of `model`.
Tensor<float> dlib_face_cpu(const std::string& model, const Tensor<float>& x);

}  // namespace ref
}  // namespace test
}  // namespace graft
