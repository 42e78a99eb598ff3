// Linear (Caffe's InnerProduct, "fc"): y = x W^T + b with W stored (out, in).
// An input of rank > 2 is read as (n, everything else) in C,H,W order, as Caffe does. (In the
// CUDA backend's channels-last mode a 4-D input is stored NHWC: it is transposed to C,H,W
// order into a buffer of the layer first, and the input gradient back.)
#pragma once

#include <string>
#include <vector>

#include "graft/layers/init.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Linear : public Layer<T, D> {
 public:
  // in_features 0: taken from the input at setup.
  Linear(std::string name, int64_t in_features, int64_t out_features, bool bias = true)
      : Layer<T, D>(std::move(name)), in_(in_features), out_(out_features), has_bias_(bias) {
    GRAFT_CHECK(out_features > 0, this->where(), ": needs at least one output");
    weights.name = "weights";
    biases.name = "biases";
    biases.decay_mult = 0.0f;
  }

  const char* type() const override { return "Linear"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "linear";
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() >= 2, this->where(), ": expected a batch of at least rank 2, got shape ",
                in.str());
    const int64_t f = features(in);
    GRAFT_CHECK(in_ == 0 || f == in_, this->where(), ": expected ", in_,
                " input features per sample, got ", f, " (input shape ", in.str(), ")");
    return Shape{in[0], out_};
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    output_shape(x.shape());
    const int64_t n = x.shape()[0];
    y.resize(Shape{n, out_});
    Backend<D>::linear_forward(this->ctx(), n, in_, out_, logical(x), weights.value.data(),
                               has_bias_ ? biases.value.data() : nullptr, y.data());
  }

  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    output_shape(x.shape());
    const int64_t n = x.shape()[0];
    GRAFT_CHECK(dy.shape() == Shape({n, out_}), this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", Shape({n, out_}).str());
    const bool dw = weights.trainable, db = has_bias_ && biases.trainable;
    if (dw) ensure_grad_shape(weights);
    if (db) ensure_grad_shape(biases);
    if (dw || db)
      Backend<D>::linear_backward_params(this->ctx(), n, in_, out_, logical(x), dy.data(),
                                         dw ? weights.grad.data() : nullptr,
                                         db ? biases.grad.data() : nullptr);
    if (dx) {
      dx->resize(x.shape());
      const bool nhwc = Backend<D>::stored_nhwc(this->ctx(), x.shape());
      if (nhwc) logical_.resize(x.shape());
      Backend<D>::linear_backward_data(this->ctx(), n, in_, out_, dy.data(),
                                       weights.value.data(), nhwc ? logical_.data() : dx->data());
      if (nhwc) Backend<D>::to_stored(this->ctx(), x.shape(), logical_.data(), dx->data());
    }
  }

  std::vector<Param<T, D>*> params() override {
    if (has_bias_) return {&weights, &biases};
    return {&weights};
  }
  FileLayout file_layout(const Param<T, D>& p) const override {
    return &p == &weights ? FileLayout::fc_in_out : FileLayout::same;
  }
  double flops(const std::vector<Shape>& in) const override {
    return 2.0 * double(in.at(0)[0]) * double(in_) * double(out_);
  }

  void initialize(uint64_t seed) override {
    init_he_normal(weights.value, in_, seed, this->name());
    if (has_bias_) init_constant(biases.value, T(0));
  }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool has_bias() const { return has_bias_; }

  Param<T, D> weights, biases;

 protected:
  void on_setup(const Shape& in) override {
    if (in_ == 0) in_ = features(in);
    weights.value.resize(Shape{out_, in_});
    if (has_bias_) biases.value.resize(Shape{out_});
    initialize(0);
  }

 private:
  // x's data in the logical C,H,W order: x itself, or its transpose in logical_ when the
  // backend stores x channels-last.
  const T* logical(const Tensor<T, D>& x) {
    if (!Backend<D>::stored_nhwc(this->ctx(), x.shape())) return x.data();
    logical_.resize(x.shape());
    Backend<D>::to_logical(this->ctx(), x.shape(), x.data(), logical_.data());
    return logical_.data();
  }
  static int64_t features(const Shape& in) {
    int64_t f = 1;
    for (int i = 1; i < in.rank(); ++i) f *= in[i];
    return f;
  }
  int64_t in_, out_;
  bool has_bias_;
  Tensor<T, D> logical_;  // channels-last mode only: x (or dx) in C,H,W order
};

}  // namespace graft
