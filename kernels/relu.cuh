// ReLU forward and backward: memory-bound passes, 16-byte vectors for float.
// Semantics equal the CPU backend's: y = x > 0 ? x : 0 (so NaN gives 0); dx = y > 0 ? dy : 0.
#pragma once

#include "kernels/common.cuh"

namespace graft {
namespace kernels {

// Vector body over n4 float4s (n4 = 0 when the pointers are not 16-byte aligned), then the
// scalar tail [4*n4, n).
template <class T>
__global__ void __launch_bounds__(256) relu_forward_kernel(int64_t n, int64_t n4, const T* __restrict__ x,
                                                           T* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float4* y4 = reinterpret_cast<float4*>(y);
    for (int64_t v = i; v < n4; v += stride) {
      float4 a = x4[v];
      a.x = a.x > 0.0f ? a.x : 0.0f;
      a.y = a.y > 0.0f ? a.y : 0.0f;
      a.z = a.z > 0.0f ? a.z : 0.0f;
      a.w = a.w > 0.0f ? a.w : 0.0f;
      y4[v] = a;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) y[e] = x[e] > T(0) ? x[e] : T(0);
}

template <class T>
__global__ void __launch_bounds__(256) relu_backward_kernel(int64_t n, int64_t n4, const T* __restrict__ y,
                                                            const T* __restrict__ dy, T* __restrict__ dx) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    const float4* y4 = reinterpret_cast<const float4*>(y);
    const float4* g4 = reinterpret_cast<const float4*>(dy);
    float4* d4 = reinterpret_cast<float4*>(dx);
    for (int64_t v = i; v < n4; v += stride) {
      const float4 a = y4[v], g = g4[v];
      float4 r;
      r.x = a.x > 0.0f ? g.x : 0.0f;
      r.y = a.y > 0.0f ? g.y : 0.0f;
      r.z = a.z > 0.0f ? g.z : 0.0f;
      r.w = a.w > 0.0f ? g.w : 0.0f;
      d4[v] = r;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) dx[e] = y[e] > T(0) ? dy[e] : T(0);
}

// In place, y = max(y, 0) (a convolution's ReLU epilogue where no bias pass carries it): no
// __restrict__, since the input is the output.
template <class T>
__global__ void __launch_bounds__(256) relu_inplace_kernel(int64_t n, T* y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const T a = y[e];
    y[e] = a > T(0) ? a : T(0);
  }
}

// float4 count for a vectorised pass over these pointers (0: scalar only).
template <class T>
inline int64_t vec4_count(int64_t n, const void* a, const void* b = nullptr, const void* c = nullptr) {
  if (sizeof(T) != 4) return 0;
  if (!aligned(a, 16) || (b && !aligned(b, 16)) || (c && !aligned(c, 16))) return 0;
  return n / 4;
}

template <class T>
void relu_forward(int64_t n, const T* x, T* y, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t n4 = vec4_count<T>(n, x, y);
  auto k = relu_forward_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, x, y);
  check_launch("relu_forward", stream);
}

template <class T>
void relu_inplace(int64_t n, T* y, cudaStream_t stream) {
  if (n <= 0) return;
  auto k = relu_inplace_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n, 256), 256, stream, n, y);
  check_launch("relu_inplace", stream);
}

template <class T>
void relu_backward(int64_t n, const T* y, const T* dy, T* dx, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t n4 = vec4_count<T>(n, y, dy, dx);
  auto k = relu_backward_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, y, dy, dx);
  check_launch("relu_backward", stream);
}

}  // namespace kernels
}  // namespace graft
