// Flatten: (n, c, h, w) -> (n, c*h*w) in C,H,W order (Caffe's and PyTorch's order). In the
// CUDA backend's channels-last mode the 4-D input is stored NHWC: forward transposes it to the
// C,H,W order and backward transposes the gradient back (Backend::to_logical / to_stored).
#pragma once

#include <string>

#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Flatten : public Layer<T, D> {
 public:
  explicit Flatten(std::string name) : Layer<T, D>(std::move(name)) {}
  const char* type() const override { return "Flatten"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "flatten";
    return s;
  }
  bool flattens() const override { return true; }
  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() >= 1, this->where(), ": expected a batch, got shape ", in.str());
    return Shape{in[0], in[0] ? in.numel() / in[0] : 0};
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    y.resize(x.shape());
    Backend<D>::to_logical(this->ctx(), x.shape(), x.data(), y.data());  // on the network's stream
    y.reshape(output_shape(x.shape()));
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    GRAFT_CHECK(dy.shape() == y.shape(), this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", y.shape().str());
    dx->resize(x.shape());
    Backend<D>::to_stored(this->ctx(), x.shape(), dy.data(), dx->data());
  }
};

}  // namespace graft
