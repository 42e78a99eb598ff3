#include "cuda/dlib_reference.hpp"

#include "graft/graft.hpp"
#include "graft/nn/dlib_face.hpp"

namespace graft {
namespace test {
namespace ref {

Tensor<float> dlib_face_cpu(const std::string& model, const Tensor<float>& x) {
  auto net = nn::dlib_face_resnet<float, CPU>();
  nn::load_dlib_face(*net, model);
  Tensor<float> y;
  copy(net->forward(x), y);
  return y;
}

}  // namespace ref
}  // namespace test
}  // namespace graft
