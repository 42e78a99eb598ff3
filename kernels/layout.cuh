// Layout changes: a batch of matrix transposes, dst[b][j][i] = src[b][i][j].
//
// The channels-last mode of the CUDA backend (Context<CUDA>::set_channels_last) stores 4-D
// activations NHWC; these kernels convert at its edges (the network's input, Flatten, a fully
// connected layer fed a 4-D input, anything handed back to the user) and turn convolution
// weights between graft's KCRS and cuDNN's NHWC filter order KRSC:
//   NCHW -> NHWC: batch n, rows c, cols h*w        NHWC -> NCHW: batch n, rows h*w, cols c
//   KCRS -> KRSC: batch k, rows c, cols r*s        KRSC -> KCRS: batch k, rows r*s, cols c
// 32x32 tiles through shared memory (padded against bank conflicts): both the reads and the
// writes are coalesced.
#pragma once

#include "kernels/common.cuh"

namespace graft {
namespace kernels {

constexpr int kTransposeTile = 32, kTransposeRows = 8;  // a block: 32 x 8 threads, 4 rows each

template <class T>
__global__ void __launch_bounds__(256) transpose_kernel(int64_t batch, int64_t rows, int64_t cols,
                                                        const T* __restrict__ src, T* __restrict__ dst) {
  __shared__ T tile[kTransposeTile][kTransposeTile + 1];
  const int64_t tiles_c = (cols + kTransposeTile - 1) / kTransposeTile;
  const int64_t tiles_r = (rows + kTransposeTile - 1) / kTransposeTile;
  const int64_t per_matrix = tiles_r * tiles_c, total = batch * per_matrix;
  for (int64_t t = blockIdx.x; t < total; t += gridDim.x) {  // grid-stride over (matrix, tile)
    const int64_t b = t / per_matrix, rem = t - b * per_matrix;
    const int64_t r0 = (rem / tiles_c) * kTransposeTile, c0 = (rem % tiles_c) * kTransposeTile;
    const T* s = src + b * rows * cols;
    T* d = dst + b * rows * cols;
    for (int k = threadIdx.y; k < kTransposeTile; k += kTransposeRows) {
      const int64_t r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[k][threadIdx.x] = s[r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTransposeTile; k += kTransposeRows) {
      const int64_t c = c0 + k, r = r0 + threadIdx.x;  // dst row c, column r
      if (r < rows && c < cols) d[c * rows + r] = tile[threadIdx.x][k];
    }
    __syncthreads();  // before the next tile overwrites the shared one
  }
}

// dst[b][j][i] = src[b][i][j] for `batch` row-major rows x cols matrices (src != dst).
template <class T>
void transpose(int64_t batch, int64_t rows, int64_t cols, const T* src, T* dst, cudaStream_t stream) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return;
  const int64_t tiles = batch * ((rows + kTransposeTile - 1) / kTransposeTile) *
                        ((cols + kTransposeTile - 1) / kTransposeTile);
  auto k = transpose_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(tiles, 1, 1 << 20), dim3(kTransposeTile, kTransposeRows), stream, batch, rows, cols, src,
               dst);
  check_launch("transpose", stream);
}

template <class T>
void nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const T* src, T* dst, cudaStream_t stream) {
  transpose(n, c, hw, src, dst, stream);
}
template <class T>
void nhwc_to_nchw(int64_t n, int64_t c, int64_t hw, const T* src, T* dst, cudaStream_t stream) {
  transpose(n, hw, c, src, dst, stream);
}

}  // namespace kernels
}  // namespace graft
