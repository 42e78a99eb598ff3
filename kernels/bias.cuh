// Bias add and bias gradient over (n, o, p) tensors: n samples, o channels, p values per
// channel (p = h*w for a convolution, p = 1 for a fully connected layer).
//
//   bias_add       y[i, c, q] += b[c]                     (in place, after cuDNN/cuBLAS)
//   bias_relu      y[i, c, q] = max(y[i, c, q] + b[c], 0)  (fused; one pass instead of two)
//   bias_grad      db[c] = sum over i, q of dy[i, c, q]     (deterministic: no atomics)
//
// and over (rows, o) tensors, channels last (NHWC activations: rows = n*h*w):
//   bias_add_rows  y[r, c] += b[c]; bias_relu_rows: y[r, c] = max(y[r, c] + b[c], 0)
//   bias_grad_rows db[c] = sum over r of dy[r, c]             (deterministic: fixed chunks, then
//                                                             the chunks' sums in order)
#pragma once

#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/reduce.cuh"
#include "kernels/relu.cuh"  // vec4_count

namespace graft {
namespace kernels {

// Flat pass over float4s (p % 4 == 0, so a vector never straddles two channels) or scalars.
// Index type I is 32-bit when the tensor has fewer than 2^31 elements: the channel of an
// element costs a division, and a 64-bit division is several times slower.
template <class T, class I, bool kRelu>
__global__ void __launch_bounds__(256) bias_add_kernel(I n_items, I per_item, I o, int vec,
                                                       T* __restrict__ y, const T* __restrict__ b) {
  const I stride = I(gridDim.x) * blockDim.x;
  for (I v = I(blockIdx.x) * blockDim.x + threadIdx.x; v < n_items; v += stride) {
    const T bias = b[(v / per_item) % o];
    if constexpr (sizeof(T) == 4) {
      if (vec == 4) {
        float4 a = reinterpret_cast<float4*>(y)[v];
        a.x += bias; a.y += bias; a.z += bias; a.w += bias;
        if (kRelu) {
          a.x = a.x > 0.0f ? a.x : 0.0f;
          a.y = a.y > 0.0f ? a.y : 0.0f;
          a.z = a.z > 0.0f ? a.z : 0.0f;
          a.w = a.w > 0.0f ? a.w : 0.0f;
        }
        reinterpret_cast<float4*>(y)[v] = a;
        continue;
      }
    }
    T a = y[v] + bias;
    if (kRelu) a = a > T(0) ? a : T(0);
    y[v] = a;
  }
}

template <class T, bool kRelu>
void bias_add_impl(const char* name, int64_t n, int64_t o, int64_t p, T* y, const T* b, cudaStream_t stream) {
  const int64_t total = n * o * p;
  if (total <= 0) return;
  const int vec = (sizeof(T) == 4 && p % 4 == 0 && aligned(y, 16)) ? 4 : 1;
  const int64_t items = total / vec, per_item = p / vec;
  const unsigned grid = grid_for(items, 256);
  if (total < (int64_t(1) << 31)) {  // (headroom: v + stride must not wrap)
    auto k = bias_add_kernel<T, uint32_t, kRelu>;
    GRAFT_LAUNCH(k, grid, 256, stream, uint32_t(items), uint32_t(per_item), uint32_t(o), vec, y, b);
  } else {
    auto k = bias_add_kernel<T, uint64_t, kRelu>;
    GRAFT_LAUNCH(k, grid, 256, stream, uint64_t(items), uint64_t(per_item), uint64_t(o), vec, y, b);
  }
  check_launch(name, stream);
}

template <class T>
void bias_add(int64_t n, int64_t o, int64_t p, T* y, const T* b, cudaStream_t stream) {
  bias_add_impl<T, false>("bias_add", n, o, p, y, b, stream);
}
template <class T>
void bias_relu(int64_t n, int64_t o, int64_t p, T* y, const T* b, cudaStream_t stream) {
  bias_add_impl<T, true>("bias_relu", n, o, p, y, b, stream);
}

// One block per (sample, channel) plane: partial[plane] = sum of its p values.
template <class T>
__global__ void __launch_bounds__(256) plane_sum_kernel(int64_t p, const T* __restrict__ dy, T* __restrict__ partial) {
  const int64_t plane = blockIdx.x;
  const T* row = dy + plane * p;
  T s = T(0);
  int64_t done = 0;  // values summed by the vector loop
  if constexpr (sizeof(T) == 4) {
    if (p % 4 == 0 && aligned(row, 16)) {
      const float4* r4 = reinterpret_cast<const float4*>(row);
      for (int64_t v = threadIdx.x; v < p / 4; v += blockDim.x) {
        const float4 a = r4[v];
        s += (a.x + a.y) + (a.z + a.w);
      }
      done = p;
    }
  }
  for (int64_t q = done + threadIdx.x; q < p; q += blockDim.x) s += row[q];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[plane] = s;
}

// db[c] = sum over i < n of v[i * o + c]: one thread per channel, coalesced across channels.
template <class T>
__global__ void __launch_bounds__(256) column_sum_kernel(int64_t n, int64_t o, const T* __restrict__ v,
                                                         T* __restrict__ db) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= o) return;
  T s = T(0);
  for (int64_t i = 0; i < n; ++i) s += v[i * o + c];
  db[c] = s;
}

// `partial` needs n*o elements of scratch when p > 1.
template <class T>
void bias_grad(int64_t n, int64_t o, int64_t p, const T* dy, T* db, T* partial, cudaStream_t stream) {
  if (o <= 0) return;
  const T* cols = dy;
  if (p > 1 && n > 0) {
    auto k = plane_sum_kernel<T>;
    GRAFT_LAUNCH(k, static_cast<unsigned>(n * o), 256, stream, p, dy, partial);
    check_launch("bias_grad (plane sums)", stream);
    cols = partial;
  }
  auto k = column_sum_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(o, 256), 256, stream, (p > 0 ? n : int64_t(0)), o, cols, db);
  check_launch("bias_grad (column sums)", stream);
}

// ---- channels last: (rows, o) ----

template <class T, class I, bool kRelu>
__global__ void __launch_bounds__(256) bias_add_rows_kernel(I n_items, I o_items, int vec, T* __restrict__ y,
                                                            const T* __restrict__ b) {
  const I stride = I(gridDim.x) * blockDim.x;
  for (I v = I(blockIdx.x) * blockDim.x + threadIdx.x; v < n_items; v += stride) {
    const I c = v % o_items;  // channel (of the vector's first element)
    if constexpr (sizeof(T) == 4) {
      if (vec == 4) {
        float4 a = reinterpret_cast<float4*>(y)[v];
        const float4 bb = reinterpret_cast<const float4*>(b)[c];
        a.x += bb.x; a.y += bb.y; a.z += bb.z; a.w += bb.w;
        if (kRelu) {
          a.x = a.x > 0.0f ? a.x : 0.0f;
          a.y = a.y > 0.0f ? a.y : 0.0f;
          a.z = a.z > 0.0f ? a.z : 0.0f;
          a.w = a.w > 0.0f ? a.w : 0.0f;
        }
        reinterpret_cast<float4*>(y)[v] = a;
        continue;
      }
    }
    T a = y[v] + b[c];
    if (kRelu) a = a > T(0) ? a : T(0);
    y[v] = a;
  }
}

template <class T, bool kRelu>
void bias_add_rows_impl(const char* name, int64_t rows, int64_t o, T* y, const T* b, cudaStream_t stream) {
  const int64_t total = rows * o;
  if (total <= 0) return;
  const int vec = (sizeof(T) == 4 && o % 4 == 0 && aligned(y, 16) && aligned(b, 16)) ? 4 : 1;
  const int64_t items = total / vec, o_items = o / vec;
  if (total < (int64_t(1) << 31)) {
    auto k = bias_add_rows_kernel<T, uint32_t, kRelu>;
    GRAFT_LAUNCH(k, grid_for(items, 256), 256, stream, uint32_t(items), uint32_t(o_items), vec, y, b);
  } else {
    auto k = bias_add_rows_kernel<T, uint64_t, kRelu>;
    GRAFT_LAUNCH(k, grid_for(items, 256), 256, stream, uint64_t(items), uint64_t(o_items), vec, y, b);
  }
  check_launch(name, stream);
}
template <class T>
void bias_add_rows(int64_t rows, int64_t o, T* y, const T* b, cudaStream_t stream) {
  bias_add_rows_impl<T, false>("bias_add_rows", rows, o, y, b, stream);
}
// y[r, c] = max(y[r, c] + b[c], 0): the channels-last bias_relu.
template <class T>
void bias_relu_rows(int64_t rows, int64_t o, T* y, const T* b, cudaStream_t stream) {
  bias_add_rows_impl<T, true>("bias_relu_rows", rows, o, y, b, stream);
}

// The fixed split of bias_grad_rows: `chunks` chunks of `per_chunk` rows (the last may be short).
struct RowChunks {
  int64_t per_chunk = 1, chunks = 0;
};
inline RowChunks row_chunks(int64_t rows) {
  RowChunks r;
  r.per_chunk = std::max<int64_t>(64, (rows + 511) / 512);  // at most 512 chunks
  r.chunks = (rows + r.per_chunk - 1) / r.per_chunk;
  return r;
}
// Scratch (elements) that bias_grad_rows needs.
inline int64_t bias_grad_rows_scratch(int64_t rows, int64_t o) { return row_chunks(rows).chunks * o; }

// Block (32, 8): 32 channels x 8 row lanes over one chunk of rows; the 8 lanes' sums are added
// in a fixed order. partial[chunk * o + c].
template <class T>
__global__ void __launch_bounds__(256) row_chunk_sum_kernel(int64_t rows, int64_t o, int64_t per_chunk,
                                                            const T* __restrict__ dy, T* __restrict__ partial) {
  __shared__ T lanes[8][33];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * per_chunk, r1 = r0 + per_chunk < rows ? r0 + per_chunk : rows;
  T s = T(0);
  if (c < o)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += dy[r * o + c];
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < o) {
    T t = lanes[0][threadIdx.x];
    for (int k = 1; k < 8; ++k) t += lanes[k][threadIdx.x];
    partial[chunk * o + c] = t;
  }
}

// `partial` needs bias_grad_rows_scratch(rows, o) elements.
template <class T>
void bias_grad_rows(int64_t rows, int64_t o, const T* dy, T* db, T* partial, cudaStream_t stream) {
  if (o <= 0) return;
  const RowChunks rc = row_chunks(rows);
  if (rows > 0) {
    GRAFT_CHECK(rc.chunks <= 65535, "bias_grad_rows: too many chunks");
    auto k = row_chunk_sum_kernel<T>;
    GRAFT_LAUNCH(k, dim3(unsigned((o + 31) / 32), unsigned(rc.chunks)), dim3(32, 8), stream, rows, o, rc.per_chunk,
                 dy, partial);
    check_launch("bias_grad_rows (chunk sums)", stream);
  }
  auto k = column_sum_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(o, 256), 256, stream, (rows > 0 ? rc.chunks : int64_t(0)), o, partial, db);
  check_launch("bias_grad_rows (column sums)", stream);
}

}  // namespace kernels
}  // namespace graft
