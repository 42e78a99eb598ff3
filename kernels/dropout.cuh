// Inverted dropout with the counter-based generator: element i is kept when
// uniform(stream, i) >= p and scaled by `scale` (= 1/(1-p), computed by the caller exactly as
// the CPU backend does), so the GPU draws the CPU's mask bit for bit and backward recomputes
// the mask instead of storing it. With Relu the input is first rectified (a ReLU fused into the
// dropout after it), max(x, 0) as relu_forward computes it.
#pragma once

#include "graft/core/random.hpp"
#include "kernels/common.cuh"
#include "kernels/relu.cuh"  // vec4_count

namespace graft {
namespace kernels {

template <class T, bool Relu>
__device__ __forceinline__ T dropout_in(T v) {
  if constexpr (Relu) return v > T(0) ? v : T(0);
  return v;
}

template <class T, bool Relu>
__global__ void __launch_bounds__(256) dropout_kernel(int64_t n, int64_t n4, const T* __restrict__ in,
                                                      T* __restrict__ out, float p, T scale, uint64_t stream) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    const float4* in4 = reinterpret_cast<const float4*>(in);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int64_t v = i; v < n4; v += stride) {
      float4 a = in4[v];
      a.x = dropout_in<float, Relu>(a.x);
      a.y = dropout_in<float, Relu>(a.y);
      a.z = dropout_in<float, Relu>(a.z);
      a.w = dropout_in<float, Relu>(a.w);
      const uint64_t e = 4 * uint64_t(v);
      float4 r;
      r.x = random::uniform(stream, e + 0) >= p ? a.x * scale : 0.0f;
      r.y = random::uniform(stream, e + 1) >= p ? a.y * scale : 0.0f;
      r.z = random::uniform(stream, e + 2) >= p ? a.z * scale : 0.0f;
      r.w = random::uniform(stream, e + 3) >= p ? a.w * scale : 0.0f;
      out4[v] = r;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride)
    out[e] = random::uniform(stream, uint64_t(e)) >= p ? dropout_in<T, Relu>(in[e]) * scale : T(0);
}

template <class T, bool Relu = false>
void dropout(int64_t n, const T* in, T* out, float p, T scale, uint64_t stream_id, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t n4 = vec4_count<T>(n, in, out);
  auto k = dropout_kernel<T, Relu>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, in, out, p, scale, stream_id);
  check_launch(Relu ? "dropout_relu" : "dropout", stream);
}

// dropout(max(in, 0)): a ReLU and the dropout after it in one pass.
template <class T>
void dropout_relu(int64_t n, const T* in, T* out, float p, T scale, uint64_t stream_id, cudaStream_t stream) {
  dropout<T, true>(n, in, out, p, scale, stream_id, stream);
}

}  // namespace kernels
}  // namespace graft
