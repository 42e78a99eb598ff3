// LeakyRelu: y = x > 0 ? x : alpha * x (torch.nn.LeakyReLU, ONNX LeakyRelu). Backward reads x.
#pragma once

#include <cmath>
#include <string>

#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class LeakyRelu : public Layer<T, D> {
 public:
  LeakyRelu(std::string name, double alpha = 0.01) : Layer<T, D>(std::move(name)), alpha_(alpha) {
    GRAFT_CHECK(std::isfinite(alpha), this->where(), ": alpha must be finite, got ", alpha);
  }
  const char* type() const override { return "LeakyRelu"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "leaky_relu";
    s.alpha = alpha_;
    return s;
  }
  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() >= 1, this->where(), ": expected a batch, got shape ", in.str());
    return in;
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    y.resize(x.shape());
    Backend<D>::leaky_relu_forward(this->ctx(), x.size(), T(alpha_), x.data(), y.data());
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    GRAFT_CHECK(dy.shape() == x.shape(), this->where(), ": output gradient has shape ", dy.shape().str(),
                ", expected ", x.shape().str());
    dx->resize(x.shape());
    Backend<D>::leaky_relu_backward(this->ctx(), x.size(), T(alpha_), x.data(), dy.data(), dx->data());
  }
  double alpha() const { return alpha_; }

 private:
  double alpha_;
};

}  // namespace graft
