// ReLU: y = max(x, 0). Backward reads y (so x may be overwritten by a later fusion).
#pragma once

#include <string>

#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class ReLU : public Layer<T, D> {
 public:
  explicit ReLU(std::string name) : Layer<T, D>(std::move(name)) {}
  const char* type() const override { return "ReLU"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "relu";
    return s;
  }
  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() >= 1, this->where(), ": expected a batch, got shape ", in.str());
    return in;
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    if (pass_through_) {  // max(., 0) applied by the layer below, or by the one reading y
      y = Tensor<T, D>::view(const_cast<T*>(x.data()), x.shape());
      viewing_ = true;
      return;
    }
    if (viewing_) {  // (a view of the input from a fused forward: own storage again)
      y = Tensor<T, D>();
      viewing_ = false;
    }
    y.resize(x.shape());
    Backend<D>::relu_forward(this->ctx(), x.size(), x.data(), y.data());
  }
  bool rectifies() const override { return true; }
  void set_pass_through(bool on) override { pass_through_ = on; }
  void backward(const Tensor<T, D>& /*x*/, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    GRAFT_CHECK(dy.shape() == y.shape(), this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", y.shape().str());
    dx->resize(y.shape());
    Backend<D>::relu_backward(this->ctx(), y.size(), y.data(), dy.data(), dx->data());
  }

 private:
  bool pass_through_ = false;  // Network::fuse_relu: y is a view of x (see Layer::set_pass_through)
  bool viewing_ = false;          // the last output was a view of the input
};

}  // namespace graft
