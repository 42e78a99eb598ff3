// Add: the elementwise sum of two or more inputs (a residual block's shortcut and branch).
//
// Without zero_pad every input must have the first one's shape. With zero_pad (dlib's
// add_prev) the inputs may differ on any axis but the batch: the output has on each axis the
// largest size among the inputs, and a smaller input counts as zero outside its own sizes
// (padding anchored at index 0: extra channels, extra rows and columns at the end). Backward
// hands each input the output gradient cut to that input's shape.
//
// The sum runs in input order, y = ((x0 + x1) + x2) + ..., on every device, so that the CPU
// and the CUDA kernels agree bit for bit. Rank 1 to 4 (fc activations and NCHW maps); in the
// CUDA backend's channels-last mode the padding follows the stored NHWC order (the backend's
// pad_add and crop take logical shapes and know the storage).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Add : public Layer<T, D> {
 public:
  explicit Add(std::string name, bool zero_pad = false) : Layer<T, D>(std::move(name)), zero_pad_(zero_pad) {}

  const char* type() const override { return "Add"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "add";
    s.zero_pad = zero_pad_;
    return s;
  }
  int arity() const override { return Layer<T, D>::kAnyArity; }
  bool zero_pad() const { return zero_pad_; }

  // The single-input forms are not meaningful for a sum: the network calls the *_multi forms.
  Shape output_shape(const Shape& in) const override {
    GRAFT_FAIL(this->where(), ": takes two or more inputs, given one of shape ", in.str());
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>&) override {
    GRAFT_FAIL(this->where(), ": takes two or more inputs, given one of shape ", x.shape().str());
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>&, const Tensor<T, D>&, Tensor<T, D>*) override {
    GRAFT_FAIL(this->where(), ": takes two or more inputs, given one of shape ", x.shape().str());
  }

  Shape output_shape_multi(const std::vector<Shape>& in) const override {
    this->check_arity(in.size());
    const Shape& first = in[0];
    GRAFT_CHECK(first.rank() >= 1 && first.rank() <= 4, this->where(), ": input 0 has shape ", first.str(),
                ", expected rank 1 to 4");
    if (!zero_pad_) {
      for (size_t i = 1; i < in.size(); ++i)
        GRAFT_CHECK(in[i] == first, this->where(), ": input ", i, " has shape ", in[i].str(), ", expected ",
                    first.str(), " (the shape of input 0; zero_pad allows differing sizes)");
      return first;
    }
    std::vector<int64_t> out = first.dims();
    for (size_t i = 1; i < in.size(); ++i) {
      GRAFT_CHECK(in[i].rank() == first.rank() && in[i][0] == first[0], this->where(), ": input ", i, " has shape ",
                  in[i].str(), ", expected rank ", first.rank(), " and batch ", first[0], " (input 0 has shape ",
                  first.str(), ")");
      for (int a = 1; a < first.rank(); ++a) out[size_t(a)] = std::max(out[size_t(a)], in[i][a]);
    }
    return Shape(out);
  }

  void forward_multi(const std::vector<const Tensor<T, D>*>& xs, Tensor<T, D>& y) override {
    const Shape out = output_shape_multi(shapes(xs));
    Context<D>& c = this->ctx();
    y.resize(out);
    const int64_t n = out.numel();
    size_t i = 0;
    if (xs[0]->shape() == out && xs[1]->shape() == out) {  // the common case: one pass for two
      Backend<D>::add(c, n, xs[0]->data(), xs[1]->data(), y.data());
      i = 2;
    }
    for (; i < xs.size(); ++i) {
      const Tensor<T, D>& x = *xs[i];
      if (x.shape() == out) {
        if (i == 0)
          Backend<D>::copy(c, n, x.data(), y.data());
        else
          Backend<D>::accumulate(c, n, x.data(), y.data());
      } else {
        Backend<D>::pad_add(c, x.shape(), x.data(), out, y.data(), /*accumulate=*/i > 0);
      }
    }
  }

  void backward_multi(const std::vector<const Tensor<T, D>*>& xs, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                      const std::vector<Tensor<T, D>*>& dxs) override {
    this->check_arity(xs.size());
    GRAFT_CHECK(dxs.size() == xs.size(), this->where(), ": ", dxs.size(), " gradient outputs for ", xs.size(),
                " inputs");
    const Shape out = output_shape_multi(shapes(xs));
    GRAFT_CHECK(dy.shape() == out && y.shape() == out, this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", out.str());
    Context<D>& c = this->ctx();
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor<T, D>* dx = dxs[i];
      if (!dx) continue;
      dx->resize(xs[i]->shape());
      if (xs[i]->shape() == out)
        Backend<D>::copy(c, out.numel(), dy.data(), dx->data());
      else
        Backend<D>::crop(c, out, dy.data(), xs[i]->shape(), dx->data());
    }
  }

 private:
  static std::vector<Shape> shapes(const std::vector<const Tensor<T, D>*>& xs) {
    std::vector<Shape> s;
    for (auto* x : xs) s.push_back(x->shape());
    return s;
  }
  bool zero_pad_;
};

// AddReLU: max(x0 + x1, 0) in one pass (a residual block's sum and its ReLU), two inputs of
// one shape. Backward: the output gradient where the output is positive, to both inputs.
template <class T, class D = CPU>
class AddReLU : public Layer<T, D> {
 public:
  explicit AddReLU(std::string name) : Layer<T, D>(std::move(name)) {}
  const char* type() const override { return "AddReLU"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "add_relu";
    return s;
  }
  int arity() const override { return 2; }

  Shape output_shape(const Shape& in) const override {
    GRAFT_FAIL(this->where(), ": takes two inputs, given one of shape ", in.str());
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>&) override {
    GRAFT_FAIL(this->where(), ": takes two inputs, given one of shape ", x.shape().str());
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>&, const Tensor<T, D>&, Tensor<T, D>*) override {
    GRAFT_FAIL(this->where(), ": takes two inputs, given one of shape ", x.shape().str());
  }
  Shape output_shape_multi(const std::vector<Shape>& in) const override {
    this->check_arity(in.size());
    GRAFT_CHECK(in[1] == in[0], this->where(), ": input 1 has shape ", in[1].str(), ", expected ", in[0].str(),
                " (the shape of input 0)");
    return in[0];
  }
  void forward_multi(const std::vector<const Tensor<T, D>*>& xs, Tensor<T, D>& y) override {
    const Shape out = output_shape_multi({xs.at(0)->shape(), xs.at(1)->shape()});
    y.resize(out);
    Backend<D>::add_relu(this->ctx(), out.numel(), xs[0]->data(), xs[1]->data(), y.data());
  }
  void backward_multi(const std::vector<const Tensor<T, D>*>& xs, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                      const std::vector<Tensor<T, D>*>& dxs) override {
    this->check_arity(xs.size());
    GRAFT_CHECK(dy.shape() == y.shape() && y.shape() == xs[0]->shape(), this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", xs[0]->shape().str());
    Context<D>& c = this->ctx();
    Tensor<T, D>* first = nullptr;
    for (size_t i = 0; i < 2; ++i) {
      Tensor<T, D>* dx = dxs.at(i);
      if (!dx) continue;
      dx->resize(y.shape());
      if (first)  // both inputs get the same gradient: compute it once
        Backend<D>::copy(c, y.size(), first->data(), dx->data());
      else
        Backend<D>::relu_backward(c, y.size(), y.data(), dy.data(), dx->data());
      first = dx;
    }
  }
};

}  // namespace graft
