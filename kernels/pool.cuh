// Max pooling forward and backward on NCHW planes, with the CPU backend's rules: padding is
// -infinity, the gradient goes to the first maximum of a window in row-major order, a NaN
// wins its window. Backward gathers (one thread per input element, looping over the windows
// that contain it) rather than scattering, so overlapping windows need no atomics and the
// sums come out in the CPU's order.
#pragma once

#include "kernels/common.cuh"

namespace graft {
namespace kernels {

struct PoolShape {
  int64_t planes = 0;     // n * c
  int h = 0, w = 0;       // input plane
  int oh = 0, ow = 0;     // output plane
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
};

// Index within the plane of the first maximum of output (i, j)'s window.
template <class T>
__device__ __forceinline__ int pool_argmax(const PoolShape& s, const T* __restrict__ xp, int i, int j) {
  int h0 = i * s.sh - s.ph, w0 = j * s.sw - s.pw;
  const int h1 = min(h0 + s.kh, s.h), w1 = min(w0 + s.kw, s.w);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  int best = h0 * s.w + w0;
  T m = -INFINITY;
  for (int hh = h0; hh < h1; ++hh)
    for (int ww = w0; ww < w1; ++ww) {
      const T v = xp[hh * s.w + ww];
      if (v > m || v != v) {
        m = v;
        best = hh * s.w + ww;
        if (v != v) return best;
      }
    }
  return best;
}

template <class T, class I>
__global__ void __launch_bounds__(256) maxpool_forward_kernel(PoolShape s, const T* __restrict__ x,
                                                              T* __restrict__ y) {
  const I total = I(s.planes) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I plane = e / I(s.oh * s.ow);
    const int q = int(e - plane * I(s.oh * s.ow));
    const int i = q / s.ow, j = q - (q / s.ow) * s.ow;
    const T* xp = x + int64_t(plane) * s.h * s.w;
    y[e] = xp[pool_argmax(s, xp, i, j)];
  }
}

template <class T, class I>
__global__ void __launch_bounds__(256) maxpool_backward_kernel(PoolShape s, const T* __restrict__ x,
                                                               const T* __restrict__ dy, T* __restrict__ dx) {
  const I total = I(s.planes) * I(s.h) * I(s.w);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I plane = e / I(s.h * s.w);
    const int q = int(e - plane * I(s.h * s.w));
    const int hh = q / s.w, ww = q - (q / s.w) * s.w;
    // windows i with i*sh - ph <= hh < i*sh - ph + kh (likewise j)
    const int ni = hh + s.ph - s.kh + 1, nj = ww + s.pw - s.kw + 1;
    const int i0 = ni <= 0 ? 0 : (ni + s.sh - 1) / s.sh, i1 = min(s.oh - 1, (hh + s.ph) / s.sh);
    const int j0 = nj <= 0 ? 0 : (nj + s.sw - 1) / s.sw, j1 = min(s.ow - 1, (ww + s.pw) / s.sw);
    const T* xp = x + int64_t(plane) * s.h * s.w;
    const T* dyp = dy + int64_t(plane) * s.oh * s.ow;
    T acc = T(0);
    for (int i = i0; i <= i1; ++i)
      for (int j = j0; j <= j1; ++j)
        if (pool_argmax(s, xp, i, j) == q) acc += dyp[i * s.ow + j];
    dx[e] = acc;
  }
}

template <class T>
void maxpool_forward(const PoolShape& s, const T* x, T* y, cudaStream_t stream) {
  const int64_t total = s.planes * s.oh * s.ow;
  if (total <= 0) return;
  if (total < (int64_t(1) << 31)) {  // (headroom: v + stride must not wrap)
    auto k = maxpool_forward_kernel<T, uint32_t>;
    GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, s, x, y);
  } else {
    auto k = maxpool_forward_kernel<T, uint64_t>;
    GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, s, x, y);
  }
  check_launch("maxpool_forward", stream);
}

template <class T>
void maxpool_backward(const PoolShape& s, const T* x, const T* dy, T* dx, cudaStream_t stream) {
  const int64_t total = s.planes * s.h * s.w;
  if (total <= 0) return;
  if (total < (int64_t(1) << 31)) {  // (headroom: v + stride must not wrap)
    auto k = maxpool_backward_kernel<T, uint32_t>;
    GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, s, x, dy, dx);
  } else {
    auto k = maxpool_backward_kernel<T, uint64_t>;
    GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, s, x, dy, dx);
  }
  check_launch("maxpool_backward", stream);
}

}  // namespace kernels
}  // namespace graft
