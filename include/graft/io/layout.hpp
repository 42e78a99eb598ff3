// Layout transforms between caffe-tensorflow files and graft (host tensors).
//
//   convolution weights   file HWIO (kh, kw, in, out)   <->  graft OIHW (out, in, kh, kw)
//   fully connected       file (in, out)                 <->  graft (out, in)
//   fully connected after a spatial layer (fc6 after pool5, 7x7x512): the file's rows are
//   the input features in H,W,C order (TensorFlow flattens NHWC); graft flattens NCHW in
//   C,H,W order. fc_hwc_to_chw() transposes and permutes in one step:
//     graft[o][c*H*W + h*W + w] = file[(h*W + w)*C + c][o]
// A plain (in, out) matrix is the case C = in, H = W = 1. Each transform has its inverse
// for saving.
#pragma once

#include <cstdint>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"

namespace graft {
namespace io {

template <class T>
Tensor<T> hwio_to_oihw(const Tensor<T>& w) {
  GRAFT_CHECK(w.shape().rank() == 4, "hwio_to_oihw: expected 4-d weights, got ", w.shape().str());
  const int64_t H = w.dim(0), W = w.dim(1), I = w.dim(2), O = w.dim(3);
  Tensor<T> out(Shape{O, I, H, W});
  for (int64_t h = 0; h < H; ++h)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t o = 0; o < O; ++o) out[((o * I + i) * H + h) * W + x] = w[((h * W + x) * I + i) * O + o];
  return out;
}

template <class T>
Tensor<T> oihw_to_hwio(const Tensor<T>& w) {
  GRAFT_CHECK(w.shape().rank() == 4, "oihw_to_hwio: expected 4-d weights, got ", w.shape().str());
  const int64_t O = w.dim(0), I = w.dim(1), H = w.dim(2), W = w.dim(3);
  Tensor<T> out(Shape{H, W, I, O});
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t x = 0; x < W; ++x) out[((h * W + x) * I + i) * O + o] = w[((o * I + i) * H + h) * W + x];
  return out;
}

// File (H*W*C, out), rows in H,W,C order  ->  graft (out, C*H*W), columns in C,H,W order.
template <class T>
Tensor<T> fc_hwc_to_chw(const Tensor<T>& w, int64_t C, int64_t H, int64_t W) {
  GRAFT_CHECK(w.shape().rank() == 2 && C > 0 && H > 0 && W > 0 && w.dim(0) == C * H * W,
              "fc_hwc_to_chw: weights ", w.shape().str(), " do not have ", C, "*", H, "*", W, " rows");
  const int64_t O = w.dim(1), in = C * H * W;
  Tensor<T> out(Shape{O, in});
  for (int64_t c = 0; c < C; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t x = 0; x < W; ++x) {
        const T* row = w.data() + ((h * W + x) * C + c) * O;
        const int64_t col = (c * H + h) * W + x;
        for (int64_t o = 0; o < O; ++o) out[o * in + col] = row[o];
      }
  return out;
}

// graft (out, C*H*W)  ->  file (H*W*C, out): the inverse of fc_hwc_to_chw.
template <class T>
Tensor<T> fc_chw_to_hwc(const Tensor<T>& w, int64_t C, int64_t H, int64_t W) {
  GRAFT_CHECK(w.shape().rank() == 2 && C > 0 && H > 0 && W > 0 && w.dim(1) == C * H * W,
              "fc_chw_to_hwc: weights ", w.shape().str(), " do not have ", C, "*", H, "*", W, " columns");
  const int64_t O = w.dim(0), in = C * H * W;
  Tensor<T> out(Shape{in, O});
  for (int64_t c = 0; c < C; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t x = 0; x < W; ++x) {
        T* row = out.data() + ((h * W + x) * C + c) * O;
        const int64_t col = (c * H + h) * W + x;
        for (int64_t o = 0; o < O; ++o) row[o] = w[o * in + col];
      }
  return out;
}

// (in, out) <-> (out, in).
template <class T>
Tensor<T> io_to_oi(const Tensor<T>& w) {
  GRAFT_CHECK(w.shape().rank() == 2, "io_to_oi: expected 2-d weights, got ", w.shape().str());
  return fc_hwc_to_chw(w, w.dim(0), 1, 1);
}
template <class T>
Tensor<T> oi_to_io(const Tensor<T>& w) {
  GRAFT_CHECK(w.shape().rank() == 2, "oi_to_io: expected 2-d weights, got ", w.shape().str());
  return fc_chw_to_hwc(w, w.dim(1), 1, 1);
}

}  // namespace io
}  // namespace graft
