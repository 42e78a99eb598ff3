// MaxPool2d: max over k x k windows of each channel. Padding counts as -infinity;
// ceil_mode rounds the output size up as Caffe's pooling does.
#pragma once

#include <string>

#include "graft/backend/geometry.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class MaxPool2d : public Layer<T, D> {
 public:
  MaxPool2d(std::string name, Window2d window) : Layer<T, D>(std::move(name)), win_(window) {
    GRAFT_CHECK(win_.kh > 0 && win_.kw > 0 && win_.sh > 0 && win_.sw > 0 && win_.ph >= 0 &&
                    win_.pw >= 0 && win_.ph < win_.kh && win_.pw < win_.kw,
                this->where(), ": bad window ", win_.str(), " (padding must be below the kernel)");
  }
  MaxPool2d(std::string name, int kernel, int stride, int pad = 0, bool ceil_mode = false)
      : MaxPool2d(std::move(name), Window2d{kernel, kernel, stride, stride, pad, pad, ceil_mode}) {}

  const char* type() const override { return "MaxPool2d"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "max_pool";
    s.window = win_;
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 4, this->where(), ": expected an NCHW input, got shape ", in.str());
    const int64_t oh = win_.out_h(in[2]), ow = win_.out_w(in[3]);
    GRAFT_CHECK(oh > 0 && ow > 0, this->where(), ": input ", in[2], "x", in[3],
                " is smaller than the ", win_.kh, "x", win_.kw, " window; input shape ",
                in.str());
    return Shape{in[0], in[1], oh, ow};
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    const ConvGeometry g = geometry(x.shape());
    y.resize(Shape{g.n, g.c, g.oh, g.ow});
    plan_.forward(g, x.data(), y.data());
  }

  void backward(const Tensor<T, D>& x, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    const ConvGeometry g = geometry(x.shape());
    GRAFT_CHECK(dy.shape() == y.shape() && y.shape() == Shape({g.n, g.c, g.oh, g.ow}),
                this->where(), ": output gradient has shape ", dy.shape().str(), ", expected ",
                Shape({g.n, g.c, g.oh, g.ow}).str());
    dx->resize(x.shape());
    plan_.backward(g, x.data(), y.data(), dy.data(), dx->data());
  }

  const Window2d& window() const { return win_; }
  std::string implementation_kind() const override { return "pooling"; }
  std::vector<std::string> implementations() const override { return plan_.implementations(geometry(this->input_shape())); }
  void use_implementation(const std::string& s) override { plan_.use_implementation(s, geometry(this->input_shape()), this->where()); }
  typename Backend<D>::template PoolPlan<T>& plan() { return plan_; }

 protected:
  void on_setup(const Shape& in) override { plan_.setup(this->ctx(), geometry(in)); }

 private:
  ConvGeometry geometry(const Shape& in) const {
    Shape out = output_shape(in);
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    ConvGeometry g;
    g.n = in[0]; g.c = in[1]; g.h = in[2]; g.w = in[3];
    g.o = in[1]; g.oh = out[2]; g.ow = out[3];
    g.win = win_;
    return g;
  }

  Window2d win_;
  typename Backend<D>::template PoolPlan<T> plan_;
};

}  // namespace graft
