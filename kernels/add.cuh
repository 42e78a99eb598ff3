// Sums of tensors, memory-bound passes (16-byte vectors for float where aligned):
//   accumulate  dst += src (the network's gradient sums where a tensor has several readers,
//               and the Add layer's third and later inputs)
//   add         y = a + b (the Add layer); add_relu: y = max(a + b, 0), a residual sum and
//               its ReLU in one pass
//   pad_add     dst = (accumulate ? dst : 0) + src zero-padded at the end of each axis (Add with
//               zero_pad: a shortcut with fewer channels or a smaller plane); crop: its
//               backward, the big gradient cut to the small input's sizes
// The padded kernels take up to 4 axes in storage order (NCHW, or NHWC in channels-last mode,
// where channel padding is the innermost axis); they are layout-agnostic, as is the anchor 0.
// Semantics equal the CPU backend's (backend/cpu/elementwise.hpp) bit for bit: the same
// single additions in the same order.
#pragma once

#include "kernels/common.cuh"
#include "kernels/relu.cuh"  // vec4_count

namespace graft {
namespace kernels {

template <class T>
__global__ void __launch_bounds__(256) accumulate_kernel(int64_t n, int64_t n4, const T* __restrict__ src,
                                                         T* __restrict__ dst) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    float4* d4 = reinterpret_cast<float4*>(dst);
    for (int64_t v = i; v < n4; v += stride) {
      const float4 a = s4[v];
      float4 b = d4[v];
      b.x += a.x;
      b.y += a.y;
      b.z += a.z;
      b.w += a.w;
      d4[v] = b;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) dst[e] += src[e];
}

template <class T>
void accumulate(int64_t n, const T* src, T* dst, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t n4 = vec4_count<T>(n, src, dst);
  auto k = accumulate_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, src, dst);
  check_launch("accumulate", stream);
}

template <class T, bool Relu>
__global__ void __launch_bounds__(256) add_kernel(int64_t n, int64_t n4, const T* __restrict__ a,
                                                  const T* __restrict__ b, T* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* y4 = reinterpret_cast<float4*>(y);
    for (int64_t v = i; v < n4; v += stride) {
      const float4 p = a4[v], q = b4[v];
      float4 r;
      r.x = p.x + q.x;
      r.y = p.y + q.y;
      r.z = p.z + q.z;
      r.w = p.w + q.w;
      if (Relu) {
        r.x = r.x > 0.0f ? r.x : 0.0f;
        r.y = r.y > 0.0f ? r.y : 0.0f;
        r.z = r.z > 0.0f ? r.z : 0.0f;
        r.w = r.w > 0.0f ? r.w : 0.0f;
      }
      y4[v] = r;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) {
    const T s = a[e] + b[e];
    y[e] = Relu ? (s > T(0) ? s : T(0)) : s;
  }
}

template <class T, bool Relu>
void add_launch(int64_t n, const T* a, const T* b, T* y, cudaStream_t stream, const char* what) {
  if (n <= 0) return;
  const int64_t n4 = vec4_count<T>(n, a, b, y);
  auto k = add_kernel<T, Relu>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, a, b, y);
  check_launch(what, stream);
}
template <class T>
void add(int64_t n, const T* a, const T* b, T* y, cudaStream_t stream) {
  add_launch<T, false>(n, a, b, y, stream, "add");
}
template <class T>
void add_relu(int64_t n, const T* a, const T* b, T* y, cudaStream_t stream) {
  add_launch<T, true>(n, a, b, y, stream, "add_relu");
}

// Sizes of up to 4 axes in storage order (missing trailing axes: 1).
struct Dims4 {
  int64_t d[4] = {1, 1, 1, 1};
  GRAFT_HD int64_t numel() const { return d[0] * d[1] * d[2] * d[3]; }
};

// One thread per element of the big tensor (every one is written: no poison survives).
template <class T>
__global__ void __launch_bounds__(256) pad_add_kernel(Dims4 small, const T* __restrict__ src, Dims4 big,
                                                      T* __restrict__ dst, bool accumulate) {
  const int64_t total = big.numel();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    int64_t r = e;
    const int64_t i3 = r % big.d[3]; r /= big.d[3];
    const int64_t i2 = r % big.d[2]; r /= big.d[2];
    const int64_t i1 = r % big.d[1];
    const int64_t i0 = r / big.d[1];
    const bool inside = i0 < small.d[0] && i1 < small.d[1] && i2 < small.d[2] && i3 < small.d[3];
    if (accumulate) {
      if (inside) dst[e] += src[((i0 * small.d[1] + i1) * small.d[2] + i2) * small.d[3] + i3];
    } else {
      dst[e] = inside ? src[((i0 * small.d[1] + i1) * small.d[2] + i2) * small.d[3] + i3] : T(0);
    }
  }
}

// One thread per element of the small tensor.
template <class T>
__global__ void __launch_bounds__(256) crop_kernel(Dims4 big, const T* __restrict__ src, Dims4 small,
                                                   T* __restrict__ dst) {
  const int64_t total = small.numel();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    int64_t r = e;
    const int64_t i3 = r % small.d[3]; r /= small.d[3];
    const int64_t i2 = r % small.d[2]; r /= small.d[2];
    const int64_t i1 = r % small.d[1];
    const int64_t i0 = r / small.d[1];
    dst[e] = src[((i0 * big.d[1] + i1) * big.d[2] + i2) * big.d[3] + i3];
  }
}

template <class T>
void pad_add(const Dims4& small, const T* src, const Dims4& big, T* dst, bool accumulate, cudaStream_t stream) {
  const int64_t n = big.numel();
  if (n <= 0) return;
  auto k = pad_add_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n, 256), 256, stream, small, src, big, dst, accumulate);
  check_launch("pad_add", stream);
}
template <class T>
void crop(const Dims4& big, const T* src, const Dims4& small, T* dst, cudaStream_t stream) {
  const int64_t n = small.numel();
  if (n <= 0) return;
  auto k = crop_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n, 256), 256, stream, big, src, small, dst);
  check_launch("crop", stream);
}

}  // namespace kernels
}  // namespace graft
