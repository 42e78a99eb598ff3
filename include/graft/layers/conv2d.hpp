// Conv2d: 2-d convolution with bias over NCHW input. Weights OIHW (Caffe and PyTorch
// order; caffe-tensorflow files hold HWIO and are transposed when loaded).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/layers/init.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Conv2d : public Layer<T, D> {
 public:
  // in_channels 0: taken from the input at setup.
  Conv2d(std::string name, int64_t in_channels, int64_t out_channels, Window2d window,
         bool bias = true)
      : Layer<T, D>(std::move(name)), in_(in_channels), out_(out_channels), win_(window),
        has_bias_(bias) {
    GRAFT_CHECK(out_channels > 0, this->where(), ": needs at least one output channel");
    GRAFT_CHECK(win_.kh > 0 && win_.kw > 0 && win_.sh > 0 && win_.sw > 0 && win_.ph >= 0 &&
                    win_.pw >= 0,
                this->where(), ": bad window ", win_.str());
    GRAFT_CHECK(!win_.ceil_mode, this->where(), ": convolution has no ceil mode");
    weights.name = "weights";
    biases.name = "biases";
    biases.decay_mult = 0.0f;
  }
  // Square kernel, stride and padding: Conv2d("conv1_1", 3, 64, 3, 1, 1).
  Conv2d(std::string name, int64_t in_channels, int64_t out_channels, int kernel, int stride = 1,
         int pad = 0, bool bias = true)
      : Conv2d(std::move(name), in_channels, out_channels,
               Window2d{kernel, kernel, stride, stride, pad, pad, false}, bias) {}

  const char* type() const override { return "Conv2d"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "conv";
    s.window = win_;
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 4, this->where(), ": expected an NCHW input, got shape ", in.str());
    GRAFT_CHECK(in_ == 0 || in[1] == in_, this->where(), ": expected input with ", in_,
                " channels, got shape ", in.str());
    const int64_t oh = win_.out_h(in[2]), ow = win_.out_w(in[3]);
    GRAFT_CHECK(oh > 0 && ow > 0, this->where(), ": input ", in[2], "x", in[3], " (padding ",
                win_.ph, "x", win_.pw, ") is smaller than the ", win_.kh, "x", win_.kw,
                " kernel; input shape ", in.str());
    return Shape{in[0], out_, oh, ow};
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    const ConvGeometry g = geometry(x.shape());
    y.resize(Shape{g.n, g.o, g.oh, g.ow});
    plan_.forward(g, x.data(), weights.value.data(), has_bias_ ? biases.value.data() : nullptr,
                  y.data());
  }

  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    const ConvGeometry g = geometry(x.shape());
    GRAFT_CHECK(dy.shape() == Shape({g.n, g.o, g.oh, g.ow}), this->where(),
                ": output gradient has shape ", dy.shape().str(), ", expected ",
                Shape({g.n, g.o, g.oh, g.ow}).str());
    if (weights.trainable) {
      ensure_grad_shape(weights);
      plan_.backward_filter(g, x.data(), dy.data(), weights.grad.data());
    }
    if (has_bias_ && biases.trainable) {
      ensure_grad_shape(biases);
      plan_.backward_bias(g, dy.data(), biases.grad.data());
    }
    if (dx) {
      dx->resize(x.shape());
      plan_.backward_data(g, weights.value.data(), dy.data(), dx->data());
    }
  }

  std::vector<Param<T, D>*> params() override {
    if (has_bias_) return {&weights, &biases};
    return {&weights};
  }
  FileLayout file_layout(const Param<T, D>& p) const override {
    return &p == &weights ? FileLayout::conv_hwio : FileLayout::same;
  }
  double flops(const std::vector<Shape>& in) const override {
    const Shape out = output_shape(in.at(0));
    return 2.0 * double(out.numel()) * double(in_ * win_.kh * win_.kw);
  }

  void initialize(uint64_t seed) override {
    init_he_normal(weights.value, in_ * win_.kh * win_.kw, seed, this->name());
    if (has_bias_) init_constant(biases.value, T(0));
  }

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  const Window2d& window() const { return win_; }
  bool has_bias() const { return has_bias_; }
  // The backend's plan (the CUDA one chooses its algorithm per layer).
  std::string implementation_kind() const override { return "convolution"; }
  std::vector<std::string> implementations() const override { return plan_.implementations(geometry(this->input_shape())); }
  void use_implementation(const std::string& s) override { plan_.use_implementation(s, geometry(this->input_shape()), this->where()); }
  typename Backend<D>::template ConvPlan<T>& plan() { return plan_; }
  // ReLU fused into the forward (Network::fuse_relu): y = max(conv(x) + b, 0) in the bias pass.
  // Backward is unchanged (it never reads y); the ReLU after it still masks the gradient.
  bool fuse_relu_epilogue(bool on) override {
    plan_.set_relu(on);
    return true;
  }
  bool relu_fused() const { return plan_.relu(); }

  Param<T, D> weights, biases;

 protected:
  void on_setup(const Shape& in) override {
    if (in_ == 0) in_ = in[1];
    weights.value.resize(Shape{out_, in_, win_.kh, win_.kw});
    if (has_bias_) biases.value.resize(Shape{out_});
    initialize(0);
    plan_.setup(this->ctx(), geometry(in));
  }

 private:
  ConvGeometry geometry(const Shape& in) const {
    Shape out = output_shape(in);
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    ConvGeometry g;
    g.n = in[0]; g.c = in[1]; g.h = in[2]; g.w = in[3];
    g.o = out_; g.oh = out[2]; g.ow = out[3];
    g.win = win_;
    return g;
  }

  int64_t in_, out_;
  Window2d win_;
  bool has_bias_;
  typename Backend<D>::template ConvPlan<T> plan_;
};

}  // namespace graft
