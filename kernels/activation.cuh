// Activations with a negative slope: LeakyRelu (one slope alpha) and PRelu (a learnable slope
// per channel, or one shared), forward and backward. Semantics equal the CPU backend's
// (backend/cpu/activation.hpp): y = x > 0 ? x : a * x, dx = x > 0 ? dy : a * dy, and
// dslope[k] = sum over x <= 0 of dy * x (one block per slope, a fixed order: no atomics; the
// sum runs in T here, in double on the CPU).
// PRelu's tensors are (n, c, p), stored NCHW or channels-last (NHWC: (n * p, c) in C order).
#pragma once

#include "kernels/common.cuh"
#include "kernels/reduce.cuh"

namespace graft {
namespace kernels {

template <class T>
__global__ void __launch_bounds__(256) leaky_relu_forward_kernel(int64_t n, T alpha, const T* __restrict__ x,
                                                                 T* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride)
    y[e] = x[e] > T(0) ? x[e] : alpha * x[e];
}
template <class T>
__global__ void __launch_bounds__(256) leaky_relu_backward_kernel(int64_t n, T alpha, const T* __restrict__ x,
                                                                  const T* __restrict__ dy, T* __restrict__ dx) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride)
    dx[e] = x[e] > T(0) ? dy[e] : alpha * dy[e];
}

// The slope index of element e: 0 when shared, else its channel in the stored layout.
template <class T>
__device__ __forceinline__ T prelu_slope(int64_t e, int64_t c, int64_t p, bool channels_last, bool shared,
                                         const T* slope) {
  if (shared) return slope[0];
  return slope[channels_last ? e % c : (e / p) % c];
}

// dy null: forward (out = x > 0 ? x : a * x); else backward (out = x > 0 ? dy : a * dy).
template <class T>
__global__ void __launch_bounds__(256) prelu_map_kernel(int64_t total, int64_t c, int64_t p, bool channels_last,
                                                        bool shared, const T* __restrict__ x,
                                                        const T* __restrict__ dy, const T* __restrict__ slope,
                                                        T* __restrict__ out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const T a = prelu_slope(e, c, p, channels_last, shared, slope);
    const T v = dy ? dy[e] : x[e];
    out[e] = x[e] > T(0) ? v : a * v;
  }
}

// One block per slope: shared, the block strides over every element; per channel, over the
// channel's n * p values (NCHW image by image; channels last one value per pixel, c apart).
template <class T>
__global__ void __launch_bounds__(256) prelu_slope_grad_kernel(int64_t n, int64_t c, int64_t p, bool channels_last,
                                                               bool shared, const T* __restrict__ x,
                                                               const T* __restrict__ dy, T* __restrict__ dslope) {
  T s = T(0);
  if (shared) {
    for (int64_t e = threadIdx.x; e < n * c * p; e += blockDim.x)
      if (!(x[e] > T(0))) s += dy[e] * x[e];
  } else {
    const int64_t ch = blockIdx.x;
    if (channels_last) {
      for (int64_t r = threadIdx.x; r < n * p; r += blockDim.x) {
        const int64_t e = r * c + ch;
        if (!(x[e] > T(0))) s += dy[e] * x[e];
      }
    } else {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = threadIdx.x; q < p; q += blockDim.x) {
          const int64_t e = (i * c + ch) * p + q;
          if (!(x[e] > T(0))) s += dy[e] * x[e];
        }
    }
  }
  s = block_sum(s);
  if (threadIdx.x == 0) dslope[blockIdx.x] = s;
}

template <class T>
void leaky_relu_forward(int64_t n, T alpha, const T* x, T* y, cudaStream_t stream) {
  if (n <= 0) return;
  auto k = leaky_relu_forward_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n, 256), 256, stream, n, alpha, x, y);
  check_launch("leaky_relu_forward", stream);
}
template <class T>
void leaky_relu_backward(int64_t n, T alpha, const T* x, const T* dy, T* dx, cudaStream_t stream) {
  if (n <= 0) return;
  auto k = leaky_relu_backward_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n, 256), 256, stream, n, alpha, x, dy, dx);
  check_launch("leaky_relu_backward", stream);
}
template <class T>
void prelu_forward(int64_t n, int64_t c, int64_t p, bool channels_last, bool shared, const T* x, const T* slope, T* y,
                   cudaStream_t stream) {
  const int64_t total = n * c * p;
  if (total <= 0) return;
  auto k = prelu_map_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, total, c, p, channels_last, shared, x,
               static_cast<const T*>(nullptr), slope, y);
  check_launch("prelu_forward", stream);
}
// dx and dslope may each be null (not wanted).
template <class T>
void prelu_backward(int64_t n, int64_t c, int64_t p, bool channels_last, bool shared, const T* x, const T* dy,
                    const T* slope, T* dx, T* dslope, cudaStream_t stream) {
  const int64_t total = n * c * p;
  if (dx && total > 0) {
    auto k = prelu_map_kernel<T>;
    GRAFT_LAUNCH(k, grid_for(total, 256), 256, stream, total, c, p, channels_last, shared, x, dy, slope, dx);
    check_launch("prelu_backward", stream);
  }
  if (dslope && c > 0) {
    GRAFT_CHECK(c <= 0x7fffffff, "prelu_backward: too many channels (", c, ")");
    auto k = prelu_slope_grad_kernel<T>;
    GRAFT_LAUNCH(k, shared ? 1u : static_cast<unsigned>(c), 256, stream, n, c, p, channels_last, shared, x, dy,
                 dslope);
    check_launch("prelu_slope_grad", stream);
  }
}

}  // namespace kernels
}  // namespace graft
