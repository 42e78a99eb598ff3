// Per-channel kernels of the Affine and BatchNorm2d layers over (n, c, p) tensors: n images,
// c channels, p values per channel and image, stored NCHW ((n, c, p) in C order) or
// channels-last (NHWC: (n * p, c) in C order).
//
//   affine         y = x * scale[ch] + offset[ch]           (offset null: no offset)
//   affine_relu    y = max(x * scale[ch] + offset[ch], 0)   (fused; one pass instead of two)
//   channel_sums   sxy[ch] = sum dy * (x * a[ch] + b[ch])   (a, b null: sum dy * x)
//                  sy[ch]  = sum dy                         (deterministic: no atomics)
//   batch_norm_fold  scale = gamma / sqrt(var + eps), offset = beta - mean * scale
//
// Semantics equal the CPU backend's (backend/cpu/norm.hpp); the sums run in T here (the CPU
// sums in double), so they agree to rounding.
#pragma once

#include "kernels/common.cuh"
#include "kernels/reduce.cuh"

namespace graft {
namespace kernels {

// One item is one value (vec 1) or a float4 (vec 4). NCHW: an item's channel is
// (item / per_item) % c, per_item = p / vec (p % 4 == 0 for vec 4, so a vector never straddles
// two channels). Channels last: the item's first channel is (item % c_items) * vec, c_items =
// c / vec (c % 4 == 0 for vec 4: a vector is 4 neighbouring channels of one pixel).
template <class T, class I, bool kRelu>
__global__ void __launch_bounds__(256) affine_kernel(I n_items, I per_item, I c, I c_items, int vec,
                                                     bool channels_last, const T* __restrict__ x,
                                                     const T* __restrict__ scale, const T* __restrict__ offset,
                                                     T* y) {
  const I stride = I(gridDim.x) * blockDim.x;
  for (I v = I(blockIdx.x) * blockDim.x + threadIdx.x; v < n_items; v += stride) {
    if constexpr (sizeof(T) == 4) {
      if (vec == 4) {
        float4 a = reinterpret_cast<const float4*>(x)[v];
        float4 s, o;  // (aggregate assignment: the host emulator has no make_float4)
        o.x = o.y = o.z = o.w = 0.0f;
        if (channels_last) {
          const I c0 = (v % c_items) * 4;
          s.x = scale[c0]; s.y = scale[c0 + 1]; s.z = scale[c0 + 2]; s.w = scale[c0 + 3];
          if (offset) { o.x = offset[c0]; o.y = offset[c0 + 1]; o.z = offset[c0 + 2]; o.w = offset[c0 + 3]; }
        } else {
          const I ch = (v / per_item) % c;
          s.x = s.y = s.z = s.w = scale[ch];
          if (offset) o.x = o.y = o.z = o.w = offset[ch];
        }
        a.x = a.x * s.x + o.x;
        a.y = a.y * s.y + o.y;
        a.z = a.z * s.z + o.z;
        a.w = a.w * s.w + o.w;
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
    const I ch = channels_last ? v % c : (v / per_item) % c;
    T a = x[v] * scale[ch] + (offset ? offset[ch] : T(0));
    if (kRelu) a = a > T(0) ? a : T(0);
    y[v] = a;
  }
}

template <class T, bool kRelu>
void affine_impl(const char* name, int64_t n, int64_t c, int64_t p, bool channels_last, const T* x, const T* scale,
                 const T* offset, T* y, cudaStream_t stream) {
  const int64_t total = n * c * p;
  if (total <= 0) return;
  const bool fits = channels_last ? c % 4 == 0 : p % 4 == 0;
  const int vec = (sizeof(T) == 4 && fits && aligned(x, 16) && aligned(y, 16)) ? 4 : 1;
  const int64_t items = total / vec, per_item = p / vec, c_items = c / vec;
  const unsigned grid = grid_for(items, 256);
  if (total < (int64_t(1) << 31)) {  // 32-bit indices (a division per item), headroom for v + stride
    auto k = affine_kernel<T, uint32_t, kRelu>;
    GRAFT_LAUNCH(k, grid, 256, stream, uint32_t(items), uint32_t(per_item), uint32_t(c), uint32_t(c_items), vec,
                 channels_last, x, scale, offset, y);
  } else {
    auto k = affine_kernel<T, uint64_t, kRelu>;
    GRAFT_LAUNCH(k, grid, 256, stream, uint64_t(items), uint64_t(per_item), uint64_t(c), uint64_t(c_items), vec,
                 channels_last, x, scale, offset, y);
  }
  check_launch(name, stream);
}

template <class T>
void affine(int64_t n, int64_t c, int64_t p, bool channels_last, const T* x, const T* scale, const T* offset, T* y,
            cudaStream_t stream) {
  affine_impl<T, false>("affine", n, c, p, channels_last, x, scale, offset, y, stream);
}
template <class T>
void affine_relu(int64_t n, int64_t c, int64_t p, bool channels_last, const T* x, const T* scale, const T* offset,
                 T* y, cudaStream_t stream) {
  affine_impl<T, true>("affine_relu", n, c, p, channels_last, x, scale, offset, y, stream);
}

// One block per channel; its threads stride over the channel's n * p values (NCHW: image by
// image, coalesced; channels last: one value per pixel, c apart) and the block adds up in a
// fixed order, so the result does not depend on timing.
template <class T>
__global__ void __launch_bounds__(256) channel_sums_kernel(int64_t n, int64_t c, int64_t p, bool channels_last,
                                                           const T* __restrict__ x, const T* __restrict__ dy,
                                                           const T* __restrict__ a, const T* __restrict__ b,
                                                           T* __restrict__ sxy, T* __restrict__ sy) {
  const int64_t ch = blockIdx.x;
  const T aa = a ? a[ch] : T(1), bb = b ? b[ch] : T(0);
  T s1 = T(0), s0 = T(0);
  if (channels_last) {
    for (int64_t r = threadIdx.x; r < n * p; r += blockDim.x) {
      const T g = dy[r * c + ch];
      s1 += g * (x[r * c + ch] * aa + bb);
      s0 += g;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = x + (i * c + ch) * p;
      const T* gr = dy + (i * c + ch) * p;
      for (int64_t q = threadIdx.x; q < p; q += blockDim.x) {
        const T g = gr[q];
        s1 += g * (xr[q] * aa + bb);
        s0 += g;
      }
    }
  }
  s1 = block_sum(s1);
  s0 = block_sum(s0);
  if (threadIdx.x == 0) {
    if (sxy) sxy[ch] = s1;
    if (sy) sy[ch] = s0;
  }
}

template <class T>
void channel_sums(int64_t n, int64_t c, int64_t p, bool channels_last, const T* x, const T* dy, const T* a,
                  const T* b, T* sxy, T* sy, cudaStream_t stream) {
  if (c <= 0 || (!sxy && !sy)) return;
  GRAFT_CHECK(c <= 0x7fffffff, "channel_sums: too many channels (", c, ")");
  auto k = channel_sums_kernel<T>;
  GRAFT_LAUNCH(k, static_cast<unsigned>(c), 256, stream, n, c, p, channels_last, x, dy, a, b, sxy, sy);
  check_launch("channel_sums", stream);
}

// One thread per channel, in double (c values: the cost is nil, the rounding the CPU's).
template <class T>
__global__ void __launch_bounds__(256) batch_norm_fold_kernel(int64_t c, const T* __restrict__ gamma,
                                                              const T* __restrict__ beta, const T* __restrict__ mean,
                                                              const T* __restrict__ var, double eps,
                                                              T* __restrict__ scale, T* __restrict__ offset) {
  const int64_t ch = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  const double s = (gamma ? double(gamma[ch]) : 1.0) / sqrt(double(var[ch]) + eps);
  scale[ch] = T(s);
  offset[ch] = T((beta ? double(beta[ch]) : 0.0) - double(mean[ch]) * s);
}

template <class T>
void batch_norm_fold(int64_t c, const T* gamma, const T* beta, const T* mean, const T* var, double eps, T* scale,
                     T* offset, cudaStream_t stream) {
  if (c <= 0) return;
  auto k = batch_norm_fold_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(c, 256), 256, stream, c, gamma, beta, mean, var, eps, scale, offset);
  check_launch("batch_norm_fold", stream);
}

}  // namespace kernels
}  // namespace graft
