// Softmax over the channels: axis 1 of (n, C) or (n, C, H, W) (torch.nn.Softmax(dim=1), ONNX
// Softmax with axis 1 at opset 13). A layer of the network, unlike SoftmaxCrossEntropy (the
// loss, which computes its own softmax of the logits). Backward reads y:
// dx = y * (dy - sum_c dy * y). In the CUDA backend's channels-last mode a 4-D input is NHWC.
#pragma once

#include <string>

#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Softmax : public Layer<T, D> {
 public:
  explicit Softmax(std::string name) : Layer<T, D>(std::move(name)) {}
  const char* type() const override { return "Softmax"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "softmax";
    return s;
  }
  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 2 || in.rank() == 4, this->where(),
                ": expected an (n, C) or (n, C, H, W) input, got shape ", in.str());
    GRAFT_CHECK(in[1] >= 1, this->where(), ": no channels to normalise over, shape ", in.str());
    return in;
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    output_shape(x.shape());
    y.resize(x.shape());
    Backend<D>::softmax_forward(this->ctx(), x.shape(), x.data(), y.data());
  }
  void backward(const Tensor<T, D>& /*x*/, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    GRAFT_CHECK(dy.shape() == y.shape(), this->where(), ": output gradient has shape ", dy.shape().str(),
                ", expected ", y.shape().str());
    dx->resize(y.shape());
    Backend<D>::softmax_backward(this->ctx(), y.shape(), y.data(), dy.data(), dx->data());
  }
};

}  // namespace graft
