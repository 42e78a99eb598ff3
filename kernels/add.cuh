// Sums of tensors: dst += src (the network's gradient accumulation where a tensor has
// several readers). A memory-bound pass, 16-byte vectors for float.
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

}  // namespace kernels
}  // namespace graft
