// Fused optimizer updates: one pass over (w, g, state) per parameter tensor, with the CPU
// backend's semantics (backend/cpu/optim.hpp: PyTorch's SGD and Adam, L2 weight decay added
// to the gradient). lr and weight_decay already include the parameter's multipliers. The
// arithmetic is the CPU's, except that the GPU may fuse a multiply and an add into one FMA.
//
// The multi-tensor forms (adam_update_multi, sgd_update_multi) update up to kMultiTensors
// parameter tensors in one launch, as PyTorch's foreach optimizers do: VGG16's 32 tensors take
// 2 launches instead of 32, ResNet-50's 161 take 7 instead of 161. The tensors are cut into
// chunks of kMultiChunk elements; each block takes a chunk (grid-stride over all chunks of the
// launch), finds its tensor in the launch's table (passed by value as the kernel's parameter)
// and runs the same per-element update as the single-tensor kernels, float4 where its four
// pointers are 16-byte aligned. So the results equal the single-tensor kernels' bit for bit.
#pragma once

#include <cmath>

#include "graft/backend/optim_items.hpp"
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

// ---- multi-tensor updates ----
constexpr int kMultiTensors = 24;              // per launch: the table stays ~2 KB of kernel parameters
constexpr int64_t kMultiChunk = int64_t(1) << 14;  // elements per chunk (a multiple of 4: chunks stay aligned)

template <class T>
struct AdamMultiEntry {
  T* w;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  AdamCoef<T> k;
};
template <class T>
struct AdamMultiTable {
  int count;
  bool vec4[kMultiTensors];           // all four pointers 16-byte aligned (float only)
  int64_t chunk_end[kMultiTensors];   // cumulative chunk counts
  AdamMultiEntry<T> t[kMultiTensors];
};

template <class T>
struct SgdMultiEntry {
  T* w;
  const T* g;
  T* buf;
  int64_t n;
  T lr, wd;
};
template <class T>
struct SgdMultiTable {
  int count;
  bool nesterov;
  T momentum;
  bool vec4[kMultiTensors];
  int64_t chunk_end[kMultiTensors];
  SgdMultiEntry<T> t[kMultiTensors];
};

// The tensor of chunk c, and the chunk's first element.
template <class Table>
__device__ __forceinline__ int multi_find(const Table& tab, int64_t c, int64_t& start) {
  int i = 0;
  while (tab.chunk_end[i] <= c) ++i;
  start = (c - (i ? tab.chunk_end[i - 1] : 0)) * kMultiChunk;
  return i;
}

template <class T>
__global__ void __launch_bounds__(256) adam_multi_kernel(AdamMultiTable<T> tab) {
  const int64_t chunks = tab.chunk_end[tab.count - 1];
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    int64_t start;
    const int i = multi_find(tab, c, start);
    const AdamMultiEntry<T>& e = tab.t[i];
    const int64_t end = min(start + kMultiChunk, e.n);
    int64_t first_scalar = start;
    if constexpr (sizeof(T) == 4) {
      if (tab.vec4[i]) {
        const int64_t q0 = start / 4, q1 = end / 4;
        for (int64_t q = q0 + threadIdx.x; q < q1; q += blockDim.x) {
          float4 wv = reinterpret_cast<float4*>(e.w)[q], mv = reinterpret_cast<float4*>(e.m)[q],
                 vv = reinterpret_cast<float4*>(e.v)[q];
          const float4 gv = reinterpret_cast<const float4*>(e.g)[q];
          adam_one(wv.x, gv.x, mv.x, vv.x, e.k);
          adam_one(wv.y, gv.y, mv.y, vv.y, e.k);
          adam_one(wv.z, gv.z, mv.z, vv.z, e.k);
          adam_one(wv.w, gv.w, mv.w, vv.w, e.k);
          reinterpret_cast<float4*>(e.w)[q] = wv;
          reinterpret_cast<float4*>(e.m)[q] = mv;
          reinterpret_cast<float4*>(e.v)[q] = vv;
        }
        first_scalar = 4 * q1;
      }
    }
    for (int64_t j = first_scalar + threadIdx.x; j < end; j += blockDim.x) adam_one(e.w[j], e.g[j], e.m[j], e.v[j], e.k);
  }
}

template <class T>
__global__ void __launch_bounds__(256) sgd_multi_kernel(SgdMultiTable<T> tab) {
  const int64_t chunks = tab.chunk_end[tab.count - 1];
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    int64_t start;
    const int i = multi_find(tab, c, start);
    const SgdMultiEntry<T>& e = tab.t[i];
    const int64_t end = min(start + kMultiChunk, e.n);
    int64_t first_scalar = start;
    if constexpr (sizeof(T) == 4) {
      if (tab.vec4[i]) {
        const int64_t q0 = start / 4, q1 = end / 4;
        for (int64_t q = q0 + threadIdx.x; q < q1; q += blockDim.x) {
          float4 wv = reinterpret_cast<float4*>(e.w)[q];
          const float4 gv = reinterpret_cast<const float4*>(e.g)[q];
          float4 bv = e.buf ? reinterpret_cast<float4*>(e.buf)[q] : float4{0.0f, 0.0f, 0.0f, 0.0f};
          float* b = e.buf ? &bv.x : nullptr;
          sgd_one(wv.x, gv.x, b, e.lr, tab.momentum, e.wd, tab.nesterov);
          sgd_one(wv.y, gv.y, e.buf ? &bv.y : nullptr, e.lr, tab.momentum, e.wd, tab.nesterov);
          sgd_one(wv.z, gv.z, e.buf ? &bv.z : nullptr, e.lr, tab.momentum, e.wd, tab.nesterov);
          sgd_one(wv.w, gv.w, e.buf ? &bv.w : nullptr, e.lr, tab.momentum, e.wd, tab.nesterov);
          reinterpret_cast<float4*>(e.w)[q] = wv;
          if (e.buf) reinterpret_cast<float4*>(e.buf)[q] = bv;
        }
        first_scalar = 4 * q1;
      }
    }
    for (int64_t j = first_scalar + threadIdx.x; j < end; j += blockDim.x)
      sgd_one(e.w[j], e.g[j], e.buf ? e.buf + j : nullptr, e.lr, tab.momentum, e.wd, tab.nesterov);
  }
}

// Launches one table's kernel over its chunks (at most 65536 blocks; the loop covers the rest).
template <class Table, class K>
void multi_launch(const Table& tab, K kernel, const char* name, cudaStream_t stream) {
  const int64_t chunks = tab.chunk_end[tab.count - 1];
  if (chunks <= 0) return;
  GRAFT_LAUNCH(kernel, grid_for(chunks, 1), 256, stream, tab);
  check_launch(name, stream);
}

// Adam on `count` tensors, with the single-tensor kernel's constants per tensor.
template <class T>
void adam_update_multi(const AdamItem<T>* items, size_t count, float beta1, float beta2, float eps,
                       cudaStream_t stream) {
  AdamMultiTable<T> tab{};
  auto flush = [&] {
    if (tab.count) {
      auto k = adam_multi_kernel<T>;
      multi_launch(tab, k, "adam_update_multi", stream);
    }
    tab = AdamMultiTable<T>{};
  };
  int64_t chunks = 0;
  for (size_t i = 0; i < count; ++i) {
    const AdamItem<T>& it = items[i];
    if (it.n <= 0) continue;
    const double c1 = 1.0 - std::pow(double(beta1), double(it.step));
    const double c2 = 1.0 - std::pow(double(beta2), double(it.step));
    AdamMultiEntry<T>& e = tab.t[tab.count];
    e.w = it.w;
    e.g = it.g;
    e.m = it.m;
    e.v = it.v;
    e.n = it.n;
    e.k.b1 = T(beta1);
    e.k.b2 = T(beta2);
    e.k.one_minus_b1 = T(1 - beta1);
    e.k.one_minus_b2 = T(1 - beta2);
    e.k.eps = T(eps);
    e.k.wd = T(it.weight_decay);
    e.k.step_size = T(double(it.lr) / c1);
    e.k.inv_sqrt_c2 = T(1.0 / std::sqrt(c2));
    tab.vec4[tab.count] = sizeof(T) == 4 && aligned(it.w, 16) && aligned(it.g, 16) && aligned(it.m, 16) &&
                          aligned(it.v, 16);
    chunks = (tab.count ? tab.chunk_end[tab.count - 1] : 0) + (it.n + kMultiChunk - 1) / kMultiChunk;
    tab.chunk_end[tab.count] = chunks;
    if (++tab.count == kMultiTensors) flush();
  }
  flush();
}

// SGD on `count` tensors (momentum 0: no buffers are read or written).
template <class T>
void sgd_update_multi(const SgdItem<T>* items, size_t count, float momentum, bool nesterov, cudaStream_t stream) {
  SgdMultiTable<T> tab{};
  auto reset = [&] {
    tab = SgdMultiTable<T>{};
    tab.momentum = T(momentum);
    tab.nesterov = nesterov;
  };
  auto flush = [&] {
    if (tab.count) {
      auto k = sgd_multi_kernel<T>;
      multi_launch(tab, k, "sgd_update_multi", stream);
    }
    reset();
  };
  reset();
  for (size_t i = 0; i < count; ++i) {
    const SgdItem<T>& it = items[i];
    if (it.n <= 0) continue;
    SgdMultiEntry<T>& e = tab.t[tab.count];
    e.w = it.w;
    e.g = it.g;
    e.buf = momentum != 0.0f ? it.buf : nullptr;
    e.n = it.n;
    e.lr = T(it.lr);
    e.wd = T(it.weight_decay);
    tab.vec4[tab.count] = sizeof(T) == 4 && aligned(it.w, 16) && aligned(it.g, 16) && (!e.buf || aligned(e.buf, 16));
    tab.chunk_end[tab.count] = (tab.count ? tab.chunk_end[tab.count - 1] : 0) + (it.n + kMultiChunk - 1) / kMultiChunk;
    if (++tab.count == kMultiTensors) flush();
  }
  flush();
}

}  // namespace kernels
}  // namespace graft
