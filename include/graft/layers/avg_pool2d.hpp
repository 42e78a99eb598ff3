// AvgPool2d: the mean over k x k windows of each channel, PyTorch's avg_pool2d:
//   count_pad (count_include_pad) true:  the divisor counts the zero padding a window covers;
//                                        a ceil-mode window that runs past the padded input
//                                        counts only up to its edge (PyTorch's rule)
//   count_pad false:                     the divisor is the number of input elements covered
// ceil_mode rounds the output size up (Window2d's rule, which is PyTorch's whenever the window
// has padding; without padding a last window that would start past the input is refused).
// GlobalAvgPool2d: the mean of each channel's whole plane, (n, C, H, W) -> (n, C, 1, 1)
// (PyTorch's adaptive_avg_pool2d(x, 1)), one window covering the plane.
//
// Both run the backend's pooling plan, the one max pooling runs, in an average mode: the
// window walk is shared and only the reduction differs (backend/cpu/pool.hpp, kernels/pool.cuh).
#pragma once

#include <string>

#include "graft/backend/geometry.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

namespace detail {
// Forward and backward of a pooling plan on an NCHW input, for the layers below.
template <class T, class D, class Plan>
void pool_run_forward(Plan& plan, const ConvGeometry& g, const Tensor<T, D>& x, Tensor<T, D>& y) {
  y.resize(Shape{g.n, g.c, g.oh, g.ow});
  plan.forward(g, x.data(), y.data());
}
// dx from dy; `where` names the layer in the shape error.
template <class T, class D, class Plan>
void pool_run_backward(Plan& plan, const ConvGeometry& g, const Tensor<T, D>& x, const Tensor<T, D>& y,
                       const Tensor<T, D>& dy, Tensor<T, D>& dx, const std::string& where) {
  const Shape ys{g.n, g.c, g.oh, g.ow};
  GRAFT_CHECK(dy.shape() == ys && y.shape() == ys, where, ": output gradient has shape ", dy.shape().str(),
              ", expected ", ys.str());
  dx.resize(x.shape());
  plan.backward(g, x.data(), y.data(), dy.data(), dx.data());
}
inline ConvGeometry pool_geometry(const Shape& in, const Window2d& win) {
  ConvGeometry g;
  g.n = in[0]; g.c = in[1]; g.h = in[2]; g.w = in[3];
  g.o = in[1]; g.oh = win.out_h(in[2]); g.ow = win.out_w(in[3]);
  g.win = win;
  return g;
}
}  // namespace detail

template <class T, class D = CPU>
class AvgPool2d : public Layer<T, D> {
 public:
  AvgPool2d(std::string name, Window2d window, bool count_pad = true)
      : Layer<T, D>(std::move(name)), win_(window), count_pad_(count_pad) {
    // PyTorch's limit: padding at most half the kernel, so that every window covers input.
    GRAFT_CHECK(win_.kh > 0 && win_.kw > 0 && win_.sh > 0 && win_.sw > 0 && win_.ph >= 0 && win_.pw >= 0 &&
                    2 * win_.ph <= win_.kh && 2 * win_.pw <= win_.kw,
                this->where(), ": bad window ", win_.str(), " (padding must be at most half the kernel)");
    plan_.set_mode(count_pad ? PoolMode::AvgCountPad : PoolMode::AvgNoPad);
  }
  AvgPool2d(std::string name, int kernel, int stride, int pad = 0, bool ceil_mode = false, bool count_pad = true)
      : AvgPool2d(std::move(name), Window2d{kernel, kernel, stride, stride, pad, pad, ceil_mode}, count_pad) {}

  const char* type() const override { return "AvgPool2d"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "avg_pool";
    s.window = win_;
    s.count_pad = count_pad_;
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 4, this->where(), ": expected an NCHW input, got shape ", in.str());
    const int64_t oh = win_.out_h(in[2]), ow = win_.out_w(in[3]);
    GRAFT_CHECK(oh > 0 && ow > 0, this->where(), ": input ", in[2], "x", in[3], " is smaller than the ", win_.kh,
                "x", win_.kw, " window; input shape ", in.str());
    // A ceil-mode window may start past the input only without padding and with a stride
    // above the kernel; PyTorch drops such a window, Caffe keeps it empty: refuse it.
    GRAFT_CHECK((oh - 1) * win_.sh - win_.ph < in[2] && (ow - 1) * win_.sw - win_.pw < in[3], this->where(),
                ": with ceil mode the last window of ", win_.str(), " starts past the input ", in[2], "x", in[3],
                "; input shape ", in.str());
    return Shape{in[0], in[1], oh, ow};
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    detail::pool_run_forward(plan_, geometry(x.shape()), x, y);
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>& y, const Tensor<T, D>& dy, Tensor<T, D>* dx) override {
    if (dx) detail::pool_run_backward(plan_, geometry(x.shape()), x, y, dy, *dx, this->where());
  }

  const Window2d& window() const { return win_; }
  bool count_pad() const { return count_pad_; }
  std::string implementation_kind() const override { return "pooling"; }
  std::vector<std::string> implementations() const override { return plan_.implementations(geometry(this->input_shape())); }
  void use_implementation(const std::string& s) override { plan_.use_implementation(s, geometry(this->input_shape()), this->where()); }
  typename Backend<D>::template PoolPlan<T>& plan() { return plan_; }

 protected:
  void on_setup(const Shape& in) override { plan_.setup(this->ctx(), geometry(in)); }

 private:
  ConvGeometry geometry(const Shape& in) const {
    output_shape(in);
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    return detail::pool_geometry(in, win_);
  }

  Window2d win_;
  bool count_pad_;
  typename Backend<D>::template PoolPlan<T> plan_;
};

template <class T, class D = CPU>
class GlobalAvgPool2d : public Layer<T, D> {
 public:
  explicit GlobalAvgPool2d(std::string name) : Layer<T, D>(std::move(name)) {
    plan_.set_mode(PoolMode::AvgCountPad);  // (no padding: both average modes agree)
  }

  const char* type() const override { return "GlobalAvgPool2d"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "global_avg_pool";
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 4 && in[2] > 0 && in[3] > 0, this->where(), ": expected an NCHW input, got shape ",
                in.str());
    return Shape{in[0], in[1], 1, 1};
  }
  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    detail::pool_run_forward(plan_, geometry(x.shape()), x, y);
  }
  void backward(const Tensor<T, D>& x, const Tensor<T, D>& y, const Tensor<T, D>& dy, Tensor<T, D>* dx) override {
    if (dx) detail::pool_run_backward(plan_, geometry(x.shape()), x, y, dy, *dx, this->where());
  }
  std::string implementation_kind() const override { return "pooling"; }
  std::vector<std::string> implementations() const override { return plan_.implementations(geometry(this->input_shape())); }
  void use_implementation(const std::string& s) override { plan_.use_implementation(s, geometry(this->input_shape()), this->where()); }
  typename Backend<D>::template PoolPlan<T>& plan() { return plan_; }

 protected:
  void on_setup(const Shape& in) override { plan_.setup(this->ctx(), geometry(in)); }

 private:
  ConvGeometry geometry(const Shape& in) const {
    output_shape(in);
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    // The plane is fixed at setup (later calls may change only the batch).
    if (this->input_shape().rank() == 4)
      GRAFT_CHECK(in[2] == this->input_shape()[2] && in[3] == this->input_shape()[3], this->where(), ": input ",
                  in.str(), " has another plane than at setup, ", this->input_shape().str());
    const Window2d win{int(in[2]), int(in[3]), 1, 1, 0, 0, false};
    return detail::pool_geometry(in, win);
  }

  typename Backend<D>::template PoolPlan<T> plan_;
};

}  // namespace graft
