// Affine: a per-channel y = x * scale[c] + offset[c] over (n, C) or (n, C, H, W) inputs.
//
// Caffe's Scale layer (offset = false: Scale without bias_term), and the inference form of
// batch normalisation (BatchNorm2d::to_affine). dlib's affine layers are the frozen kind: the
// caller freezes the parameters (Param::trainable = false), the layer itself does not care.
// Parameters "scale" (init 1) and "offset" (init 0, no weight decay). In the CUDA backend's
// channels-last mode a 4-D input is NHWC; the kernels read the channel from the layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/layers/init.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Affine : public Layer<T, D> {
 public:
  // channels 0: taken from the input at setup.
  Affine(std::string name, int64_t channels, bool offset = true)
      : Layer<T, D>(std::move(name)), c_(channels), has_offset_(offset) {
    GRAFT_CHECK(channels >= 0, this->where(), ": channels must be >= 0 (0: from the input), got ", channels);
    scale.name = "scale";
    this->offset.name = "offset";
    this->offset.decay_mult = 0.0f;
  }

  const char* type() const override { return "Affine"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "affine";
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 2 || in.rank() == 4, this->where(), ": expected an (n, C) or (n, C, H, W) input, got shape ",
                in.str());
    GRAFT_CHECK(c_ == 0 || in[1] == c_, this->where(), ": expected input with ", c_, " channels, got shape ",
                in.str());
    return in;
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    check_input(x.shape());
    y.resize(x.shape());
    Backend<D>::affine_forward(this->ctx(), x.shape(), x.data(), scale.value.data(),
                               has_offset_ ? offset.value.data() : nullptr, y.data());
  }

  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    check_input(x.shape());
    GRAFT_CHECK(dy.shape() == x.shape(), this->where(), ": output gradient has shape ", dy.shape().str(),
                ", expected ", x.shape().str());
    const bool ds = scale.trainable, dof = has_offset_ && offset.trainable;
    if (ds) ensure_grad_shape(scale);
    if (dof) ensure_grad_shape(offset);
    if (dx) dx->resize(x.shape());
    if (!ds && !dof && !dx) return;
    Backend<D>::affine_backward(this->ctx(), x.shape(), x.data(), dy.data(), scale.value.data(),
                                dx ? dx->data() : nullptr, ds ? scale.grad.data() : nullptr,
                                dof ? offset.grad.data() : nullptr);
  }

  std::vector<Param<T, D>*> params() override {
    if (has_offset_) return {&scale, &offset};
    return {&scale};
  }

  // Scale 1, offset 0: the identity (there is nothing random to draw).
  void initialize(uint64_t /*seed*/) override {
    init_constant(scale.value, T(1));
    if (has_offset_) init_constant(offset.value, T(0));
  }

  int64_t channels() const { return c_; }
  bool has_offset() const { return has_offset_; }

  Param<T, D> scale, offset;

 protected:
  // Values that already hold C channels are kept: BatchNorm2d::to_affine sets them up front,
  // and adding that layer to a network sets it up again. Others start as the identity.
  void on_setup(const Shape& in) override {
    if (c_ == 0) c_ = in[1];
    if (scale.value.shape() != Shape{c_}) {
      scale.value.resize(Shape{c_});
      init_constant(scale.value, T(1));
    }
    if (has_offset_ && offset.value.shape() != Shape{c_}) {
      offset.value.resize(Shape{c_});
      init_constant(offset.value, T(0));
    }
  }

 private:
  void check_input(const Shape& s) const {
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    output_shape(s);  // rank and channels; H and W may change from call to call
  }

  int64_t c_;
  bool has_offset_;
};

}  // namespace graft
