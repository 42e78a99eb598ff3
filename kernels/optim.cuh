// Fused optimizer updates: one pass over (w, g, state) per parameter tensor, with the CPU
// backend's semantics (backend/cpu/optim.hpp: PyTorch's SGD and Adam, L2 weight decay added
// to the gradient). lr and weight_decay already include the parameter's multipliers. The
// arithmetic is the CPU's, except that the GPU may fuse a multiply and an add into one FMA.
#pragma once

#include <cmath>

#include "kernels/common.cuh"
#include "kernels/relu.cuh"  // vec4_count

namespace graft {
namespace kernels {

template <class T>
__device__ __forceinline__ void sgd_one(T& w, T g, T* buf, T lr, T momentum, T wd, bool nesterov) {
  T d = g + wd * w;
  if (buf) {
    *buf = momentum * *buf + d;
    d = nesterov ? d + momentum * *buf : *buf;
  }
  w -= lr * d;
}

// buf is null when momentum is 0 (it is then neither read nor written).
template <class T>
__global__ void __launch_bounds__(256) sgd_kernel(int64_t n, int64_t n4, T* __restrict__ w, const T* __restrict__ g,
                                                  T* __restrict__ buf, T lr, T momentum, T wd, bool nesterov) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    for (int64_t v = i; v < n4; v += stride) {
      float4 wv = reinterpret_cast<float4*>(w)[v];
      const float4 gv = reinterpret_cast<const float4*>(g)[v];
      float4 bv = buf ? reinterpret_cast<float4*>(buf)[v] : float4{0.0f, 0.0f, 0.0f, 0.0f};
      sgd_one(wv.x, gv.x, buf ? &bv.x : nullptr, lr, momentum, wd, nesterov);
      sgd_one(wv.y, gv.y, buf ? &bv.y : nullptr, lr, momentum, wd, nesterov);
      sgd_one(wv.z, gv.z, buf ? &bv.z : nullptr, lr, momentum, wd, nesterov);
      sgd_one(wv.w, gv.w, buf ? &bv.w : nullptr, lr, momentum, wd, nesterov);
      reinterpret_cast<float4*>(w)[v] = wv;
      if (buf) reinterpret_cast<float4*>(buf)[v] = bv;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride) sgd_one(w[e], g[e], buf ? buf + e : nullptr, lr, momentum, wd, nesterov);
}

// Adam's constants, converted to T exactly as the CPU backend converts them.
template <class T>
struct AdamCoef {
  T b1, b2, one_minus_b1, one_minus_b2, eps, wd, step_size, inv_sqrt_c2;
};

template <class T>
__device__ __forceinline__ void adam_one(T& w, T g, T& m, T& v, const AdamCoef<T>& k) {
  const T d = g + k.wd * w;
  m = k.b1 * m + k.one_minus_b1 * d;
  v = k.b2 * v + k.one_minus_b2 * d * d;
  w -= k.step_size * m / (sqrt(v) * k.inv_sqrt_c2 + k.eps);
}

template <class T>
__global__ void __launch_bounds__(256) adam_kernel(int64_t n, int64_t n4, T* __restrict__ w, const T* __restrict__ g,
                                                   T* __restrict__ m, T* __restrict__ v, AdamCoef<T> k) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (sizeof(T) == 4) {
    for (int64_t q = i; q < n4; q += stride) {
      float4 wv = reinterpret_cast<float4*>(w)[q], mv = reinterpret_cast<float4*>(m)[q],
             vv = reinterpret_cast<float4*>(v)[q];
      const float4 gv = reinterpret_cast<const float4*>(g)[q];
      adam_one(wv.x, gv.x, mv.x, vv.x, k);
      adam_one(wv.y, gv.y, mv.y, vv.y, k);
      adam_one(wv.z, gv.z, mv.z, vv.z, k);
      adam_one(wv.w, gv.w, mv.w, vv.w, k);
      reinterpret_cast<float4*>(w)[q] = wv;
      reinterpret_cast<float4*>(m)[q] = mv;
      reinterpret_cast<float4*>(v)[q] = vv;
    }
  }
  for (int64_t e = 4 * n4 + i; e < n; e += stride)
    adam_one(w[e], g[e], m[e], v[e], k);
}

template <class T>
void sgd_update(int64_t n, T* w, const T* g, T* buf, float lr, float momentum, float weight_decay, bool nesterov,
                cudaStream_t stream) {
  if (n <= 0) return;
  T* b = momentum != 0.0f ? buf : nullptr;
  int64_t n4 = vec4_count<T>(n, w, g, b);
  auto k = sgd_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, w, g, b, T(lr), T(momentum), T(weight_decay),
               nesterov);
  check_launch("sgd_update", stream);
}

// step counts from 1; the bias corrections are computed here in double, as on the CPU.
template <class T>
void adam_update(int64_t n, T* w, const T* g, T* m, T* v, float lr, float beta1, float beta2, float eps,
                 float weight_decay, int64_t step, cudaStream_t stream) {
  if (n <= 0) return;
  const double c1 = 1.0 - std::pow(double(beta1), double(step));
  const double c2 = 1.0 - std::pow(double(beta2), double(step));
  AdamCoef<T> coef;
  coef.b1 = T(beta1);
  coef.b2 = T(beta2);
  coef.one_minus_b1 = T(1 - beta1);
  coef.one_minus_b2 = T(1 - beta2);
  coef.eps = T(eps);
  coef.wd = T(weight_decay);
  coef.step_size = T(double(lr) / c1);
  coef.inv_sqrt_c2 = T(1.0 / std::sqrt(c2));
  int64_t n4 = vec4_count<T>(n, w, g, m);
  if (!aligned(v, 16)) n4 = 0;
  auto k = adam_kernel<T>;
  GRAFT_LAUNCH(k, grid_for(n4 ? n4 : n, 256), 256, stream, n, n4, w, g, m, v, coef);
  check_launch("adam_update", stream);
}

}  // namespace kernels
}  // namespace graft
