// Softmax with cross-entropy, fused: one warp per row computes the row maximum, the
// log-sum-exp, the probabilities and the row's loss lse - z[label] in one kernel; the host
// adds the n row losses in double (as the CPU backend does). Backward is one elementwise pass:
// dlogits = f * (probs - onehot(labels)), f = scale / n.
//
// The Softmax layer's channel softmax over (n, c, p) tensors (NCHW, or channels-last: NHWC)
// is one thread per (image, position), its c values `cs` apart (p in NCHW, 1 in NHWC), in
// channel order as the CPU backend's (backend/cpu/activation.hpp): y = exp(x - max) / sum;
// backward dx = y * (dy - sum_c dy * y).
#pragma once

#include <cmath>

#include "kernels/common.cuh"
#include "kernels/reduce.cuh"

namespace graft {
namespace kernels {

template <class T>
__global__ void __launch_bounds__(256) softmax_xent_forward_kernel(int64_t n, int64_t k, const T* __restrict__ logits,
                                                                   const int32_t* __restrict__ labels,
                                                                   T* __restrict__ probs, T* __restrict__ row_loss) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;  // the whole warp leaves together: row is the same for its 32 lanes
  const T* z = logits + row * k;
  T* p = probs + row * k;
  T m = z[0];
  for (int64_t j = lane; j < k; j += 32) m = z[j] > m ? z[j] : m;
  m = warp_max(m);
  T s = T(0);
  for (int64_t j = lane; j < k; j += 32) s += exp(z[j] - m);
  s = warp_sum(s);
  const T lse = m + log(s);
  for (int64_t j = lane; j < k; j += 32) p[j] = exp(z[j] - lse);
  if (labels && lane == 0) row_loss[row] = lse - z[labels[row]];
}

template <class T>
__global__ void __launch_bounds__(256) softmax_xent_backward_kernel(int64_t n, int64_t k, const T* __restrict__ probs,
                                                                    const int32_t* __restrict__ labels, T f,
                                                                    T* __restrict__ dlogits) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * k; e += stride) {
    const int64_t i = e / k, j = e - i * k;
    dlogits[e] = f * (probs[e] - (j == labels[i] ? T(1) : T(0)));
  }
}

// The loss after cuDNN's softmax: row_loss[i] = -log(max(probs[i, label], smallest normal)).
// (Less exact than lse - z[label] when a probability underflows; graft's fused kernel has no
// such limit. This path exists to time cuDNN's softmax against graft's.)
template <class T>
__global__ void __launch_bounds__(256) xent_from_probs_kernel(int64_t n, int64_t k, const T* __restrict__ probs,
                                                              const int32_t* __restrict__ labels,
                                                              T* __restrict__ row_loss) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const T p = probs[i * k + labels[i]];
  const T tiny = sizeof(T) == 4 ? T(1.17549435e-38f) : T(2.2250738585072014e-308);
  row_loss[i] = -log(p > tiny ? p : tiny);
}

template <class T>
void xent_from_probs(int64_t n, int64_t k, const T* probs, const int32_t* labels, T* row_loss, cudaStream_t stream) {
  if (n <= 0) return;
  auto kern = xent_from_probs_kernel<T>;
  GRAFT_LAUNCH(kern, grid_for(n, 256), 256, stream, n, k, probs, labels, row_loss);
  check_launch("xent_from_probs", stream);
}

// row_loss: n values (may be null when labels is null: probabilities only).
template <class T>
void softmax_xent_forward(int64_t n, int64_t k, const T* logits, const int32_t* labels, T* probs, T* row_loss,
                          cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  auto kern = softmax_xent_forward_kernel<T>;
  GRAFT_LAUNCH(kern, grid_for(n * 32, 256, int64_t(1) << 30), 256, stream, n, k, logits, labels, probs, row_loss);
  check_launch("softmax_xent_forward", stream);
}

template <class T>
void softmax_xent_backward(int64_t n, int64_t k, const T* probs, const int32_t* labels, T f, T* dlogits,
                           cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  auto kern = softmax_xent_backward_kernel<T>;
  GRAFT_LAUNCH(kern, grid_for(n * k, 256), 256, stream, n, k, probs, labels, f, dlogits);
  check_launch("softmax_xent_backward", stream);
}

// The first value of row r (image i, position q) and the distance between its channels.
__device__ __forceinline__ int64_t softmax_row_base(int64_t r, int64_t c, int64_t p, bool channels_last) {
  return channels_last ? r * c : (r / p) * c * p + r % p;
}

template <class T>
__global__ void __launch_bounds__(256) softmax_channels_forward_kernel(int64_t n, int64_t c, int64_t p,
                                                                       bool channels_last, const T* __restrict__ x,
                                                                       T* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, cs = channels_last ? 1 : p;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n * p; r += stride) {
    const int64_t b = softmax_row_base(r, c, p, channels_last);
    T m = x[b];
    for (int64_t ch = 1; ch < c; ++ch) m = x[b + ch * cs] > m ? x[b + ch * cs] : m;
    T s = T(0);
    for (int64_t ch = 0; ch < c; ++ch) {
      const T e = exp(x[b + ch * cs] - m);
      y[b + ch * cs] = e;
      s += e;
    }
    for (int64_t ch = 0; ch < c; ++ch) y[b + ch * cs] /= s;
  }
}

template <class T>
__global__ void __launch_bounds__(256) softmax_channels_backward_kernel(int64_t n, int64_t c, int64_t p,
                                                                        bool channels_last, const T* __restrict__ y,
                                                                        const T* __restrict__ dy,
                                                                        T* __restrict__ dx) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, cs = channels_last ? 1 : p;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n * p; r += stride) {
    const int64_t b = softmax_row_base(r, c, p, channels_last);
    T s = T(0);
    for (int64_t ch = 0; ch < c; ++ch) s += dy[b + ch * cs] * y[b + ch * cs];
    for (int64_t ch = 0; ch < c; ++ch) dx[b + ch * cs] = y[b + ch * cs] * (dy[b + ch * cs] - s);
  }
}

template <class T>
void softmax_channels_forward(int64_t n, int64_t c, int64_t p, bool channels_last, const T* x, T* y,
                              cudaStream_t stream) {
  if (n * p <= 0 || c <= 0) return;
  auto kern = softmax_channels_forward_kernel<T>;
  GRAFT_LAUNCH(kern, grid_for(n * p, 256), 256, stream, n, c, p, channels_last, x, y);
  check_launch("softmax_channels_forward", stream);
}
template <class T>
void softmax_channels_backward(int64_t n, int64_t c, int64_t p, bool channels_last, const T* y, const T* dy, T* dx,
                               cudaStream_t stream) {
  if (n * p <= 0 || c <= 0) return;
  auto kern = softmax_channels_backward_kernel<T>;
  GRAFT_LAUNCH(kern, grid_for(n * p, 256), 256, stream, n, c, p, channels_last, y, dy, dx);
  check_launch("softmax_channels_backward", stream);
}

}  // namespace kernels
}  // namespace graft
