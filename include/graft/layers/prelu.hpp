// PRelu: y = x > 0 ? x : slope * x with a learnable slope (torch.nn.PReLU, ONNX PRelu), one per
// channel or one shared by all, over (n, C) or (n, C, H, W) inputs.
//
// Parameter "slope" (init 0.25, torch's; no weight decay, as torch's docs advise): shape (C)
// or (1). It is trainable and freezable like any parameter, and saved in weights files and
// checkpoints as "layer/slope". In the CUDA backend's channels-last mode a 4-D input is NHWC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/layers/init.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class PRelu : public Layer<T, D> {
 public:
  // slopes: 1, one shared slope; 0, one per channel of the input (taken at setup); C > 1, one
  // per channel of an input that must have C channels.
  explicit PRelu(std::string name, int64_t slopes = 0) : Layer<T, D>(std::move(name)), slopes_(slopes) {
    GRAFT_CHECK(slopes >= 0, this->where(), ": slopes must be >= 0 (0: one per input channel), got ", slopes);
    slope.name = "slope";
    slope.decay_mult = 0.0f;
  }

  const char* type() const override { return "PRelu"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "prelu";
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 2 || in.rank() == 4, this->where(),
                ": expected an (n, C) or (n, C, H, W) input, got shape ", in.str());
    GRAFT_CHECK(slopes_ <= 1 || in[1] == slopes_, this->where(), ": expected input with ", slopes_,
                " channels (one slope each), got shape ", in.str());
    return in;
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    check_input(x.shape());
    y.resize(x.shape());
    Backend<D>::prelu_forward(this->ctx(), x.shape(), x.data(), slope.value.data(), shared(), y.data());
  }

  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    check_input(x.shape());
    GRAFT_CHECK(dy.shape() == x.shape(), this->where(), ": output gradient has shape ", dy.shape().str(),
                ", expected ", x.shape().str());
    const bool ds = slope.trainable;
    if (ds) ensure_grad_shape(slope);
    if (dx) dx->resize(x.shape());
    if (!ds && !dx) return;
    Backend<D>::prelu_backward(this->ctx(), x.shape(), x.data(), dy.data(), slope.value.data(), shared(),
                               dx ? dx->data() : nullptr, ds ? slope.grad.data() : nullptr);
  }

  std::vector<Param<T, D>*> params() override { return {&slope}; }
  void initialize(uint64_t /*seed*/) override { init_constant(slope.value, T(0.25)); }
  // One slope for every channel (slopes 1), or one per channel.
  bool shared() const { return slopes_ == 1; }
  int64_t slopes() const { return slopes_; }

  Param<T, D> slope;

 protected:
  // A slope that already has the right size is kept (set before the layer joins a network).
  void on_setup(const Shape& in) override {
    if (slopes_ == 0) slopes_ = in[1];
    if (slope.value.shape() != Shape{slopes_}) {
      slope.value.resize(Shape{slopes_});
      init_constant(slope.value, T(0.25));
    }
  }

 private:
  void check_input(const Shape& s) const {
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    output_shape(s);
    GRAFT_CHECK(shared() || s[1] == slopes_, this->where(), ": expected input with ", slopes_, " channels, got shape ",
                s.str());
  }

  int64_t slopes_;
};

}  // namespace graft
