// float32 <-> bf16 conversions: the edges of the bf16 mixed-precision mode (Context<CUDA>::
// set_precision). Memory-bound passes: 16-byte loads of the float side (4 floats in, 8 bytes
// of bf16 out), scalar tails. Rounding is graft::bf16's (round to nearest even, NaN stays NaN),
// so the host emulates them bit for bit.
//
//   to_bf16           y[i] = bf16(x[i])
//   from_bf16         y[i] = float(x[i])                      (exact)
//   from_bf16_bias    y[i, c, q] = float(x[i, c, q]) + b[c]   (NCHW: (n, o, p); NHWC: p = 1 and
//                                                             rows = n*h*w, c = index % o)
// The last one is the convolution's epilogue in bf16 mode: cuDNN writes bf16, the layer's
// output is float with the float bias added in one pass instead of two; `relu` also applies
// max(., 0) in that pass (a convolution with its ReLU fused, Network::fuse_relu).
#pragma once

#include <cstdint>

#include "graft/core/bf16.hpp"
#include "kernels/common.cuh"

namespace graft {
namespace kernels {

// Four bf16 packed in 8 bytes, for the vector stores.
struct alignas(8) bf16x4 {
  bf16 v[4];
};

__global__ void __launch_bounds__(256) to_bf16_kernel(int64_t n, int64_t n4, const float* __restrict__ x,
                                                      bf16* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t v = i; v < n4; v += stride) {
    const float4 a = reinterpret_cast<const float4*>(x)[v];
    bf16x4 r;
    r.v[0] = bf16(a.x);
    r.v[1] = bf16(a.y);
    r.v[2] = bf16(a.z);
    r.v[3] = bf16(a.w);
    reinterpret_cast<bf16x4*>(y)[v] = r;
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) y[e] = bf16(x[e]);
}

__device__ __forceinline__ float relu_if(bool relu, float v) { return relu ? (v > 0.0f ? v : 0.0f) : v; }

// o > 0: add b[channel] with channel = (e / p) % o; o == 0: no bias.
__global__ void __launch_bounds__(256) from_bf16_kernel(int64_t n, int64_t n4, const bf16* __restrict__ x,
                                                        float* __restrict__ y, const float* __restrict__ b, int64_t o,
                                                        int64_t p, bool relu) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t v = i; v < n4; v += stride) {  // (n4 > 0 only when p % 4 == 0 or there is no bias)
    const bf16x4 a = reinterpret_cast<const bf16x4*>(x)[v];
    float4 r;
    r.x = float(a.v[0]);
    r.y = float(a.v[1]);
    r.z = float(a.v[2]);
    r.w = float(a.v[3]);
    if (o > 0) {
      const float bias = b[(4 * v / p) % o];
      r.x += bias;
      r.y += bias;
      r.z += bias;
      r.w += bias;
    }
    r.x = relu_if(relu, r.x);
    r.y = relu_if(relu, r.y);
    r.z = relu_if(relu, r.z);
    r.w = relu_if(relu, r.w);
    reinterpret_cast<float4*>(y)[v] = r;
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride)
    y[e] = relu_if(relu, o > 0 ? float(x[e]) + b[(e / p) % o] : float(x[e]));
}

// The rows form (channels last) needs the channel of each of the 4 elements; it has a kernel
// of its own so that the NCHW form keeps one bias per vector.
__global__ void __launch_bounds__(256) from_bf16_bias_rows_kernel(int64_t n, const bf16* __restrict__ x,
                                                                  float* __restrict__ y, const float* __restrict__ b,
                                                                  int64_t o, bool relu) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride)
    y[e] = relu_if(relu, float(x[e]) + b[e % o]);
}

inline void to_bf16(int64_t n, const float* x, bf16* y, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t n4 = (aligned(x, 16) && aligned(y, 8)) ? n / 4 : 0;
  GRAFT_LAUNCH(to_bf16_kernel, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, x, y);
  check_launch("to_bf16", stream);
}

inline void from_bf16(int64_t n, const bf16* x, float* y, cudaStream_t stream, bool relu = false) {
  if (n <= 0) return;
  const int64_t n4 = (aligned(x, 8) && aligned(y, 16)) ? n / 4 : 0;
  GRAFT_LAUNCH(from_bf16_kernel, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, x, y,
               static_cast<const float*>(nullptr), int64_t(0), int64_t(1), relu);
  check_launch("from_bf16", stream);
}

// (n, o, p) NCHW-style tensor: y = float(x) + b[channel].
inline void from_bf16_bias(int64_t n, int64_t o, int64_t p, const bf16* x, const float* b, float* y,
                           cudaStream_t stream, bool relu = false) {
  const int64_t total = n * o * p;
  if (total <= 0) return;
  const int64_t n4 = (p % 4 == 0 && aligned(x, 8) && aligned(y, 16)) ? total / 4 : 0;
  GRAFT_LAUNCH(from_bf16_kernel, grid_for(n4 ? n4 : total, 256), 256, stream, total, n4, x, y, b, o, p, relu);
  check_launch("from_bf16_bias", stream);
}

// (rows, o) channels-last tensor: y[r, c] = float(x[r, c]) + b[c].
inline void from_bf16_bias_rows(int64_t rows, int64_t o, const bf16* x, const float* b, float* y,
                                cudaStream_t stream, bool relu = false) {
  const int64_t total = rows * o;
  if (total <= 0) return;
  GRAFT_LAUNCH(from_bf16_bias_rows_kernel, grid_for(total, 256), 256, stream, total, x, y, b, o, relu);
  check_launch("from_bf16_bias_rows", stream);
}

}  // namespace kernels
}  // namespace graft
