// Activations with a negative slope (LeakyRelu, PRelu) and the channel softmax (Softmax) on
// the host. Per-channel forms take (n, c, p) dims: n images, c channels, p values per channel.
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

// y = x > 0 ? x : alpha * x;  dx = x > 0 ? dy : alpha * dy (the kink at 0 takes alpha).
template <class T>
void leaky_relu_forward(int64_t n, T alpha, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : alpha * x[i];
}
template <class T>
void leaky_relu_backward(int64_t n, T alpha, const T* x, const T* dy, T* dx) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : alpha * dy[i];
}

// PRelu: the slope of channel ch is slope[shared ? 0 : ch].
template <class T>
void prelu_forward(int64_t n, int64_t c, int64_t p, const T* x, const T* slope, bool shared, T* y) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t r = 0; r < n * c; ++r) {
    const T a = slope[shared ? 0 : r % c];
    const T* xr = x + r * p;
    T* yr = y + r * p;
    for (int64_t q = 0; q < p; ++q) yr[q] = xr[q] > T(0) ? xr[q] : a * xr[q];
  }
}
// dx = x > 0 ? dy : slope * dy (dx null: skipped); dslope[k] = sum over its channels' x <= 0
// of dy * x, added in double (dslope null: skipped).
template <class T>
void prelu_backward(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const T* slope, bool shared, T* dx,
                    T* dslope) {
  if (dx) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
    for (int64_t r = 0; r < n * c; ++r) {
      const T a = slope[shared ? 0 : r % c];
      for (int64_t q = 0; q < p; ++q) {
        const int64_t e = r * p + q;
        dx[e] = x[e] > T(0) ? dy[e] : a * dy[e];
      }
    }
  }
  if (!dslope) return;
  const int64_t slopes = shared ? 1 : c;
  for (int64_t k = 0; k < slopes; ++k) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = shared ? 0 : k; ch < (shared ? c : k + 1); ++ch) {
        const T* xr = x + (i * c + ch) * p;
        const T* gr = dy + (i * c + ch) * p;
        for (int64_t q = 0; q < p; ++q)
          if (!(xr[q] > T(0))) s += double(gr[q]) * double(xr[q]);
      }
    dslope[k] = T(s);
  }
}

// y = softmax over the c channels of each (image, position), with the maximum subtracted;
// the channel sum runs in channel order (as the CUDA kernel's).
template <class T>
void softmax_channels_forward(int64_t n, int64_t c, int64_t p, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t r = 0; r < n * p; ++r) {
    const int64_t i = r / p, q = r % p;
    const T* xr = x + i * c * p + q;
    T* yr = y + i * c * p + q;
    T m = xr[0];
    for (int64_t ch = 1; ch < c; ++ch) m = xr[ch * p] > m ? xr[ch * p] : m;
    T s = 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      const T e = std::exp(xr[ch * p] - m);
      yr[ch * p] = e;
      s += e;
    }
    for (int64_t ch = 0; ch < c; ++ch) yr[ch * p] /= s;
  }
}
// dx = y * (dy - sum_ch dy * y), per (image, position).
template <class T>
void softmax_channels_backward(int64_t n, int64_t c, int64_t p, const T* y, const T* dy, T* dx) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t r = 0; r < n * p; ++r) {
    const int64_t off = (r / p) * c * p + r % p;
    T s = 0;
    for (int64_t ch = 0; ch < c; ++ch) s += dy[off + ch * p] * y[off + ch * p];
    for (int64_t ch = 0; ch < c; ++ch) dx[off + ch * p] = y[off + ch * p] * (dy[off + ch * p] - s);
  }
}

}  // namespace cpu
}  // namespace graft
