// Pooling forward and backward on NCHW planes (and NHWC data), max and average, with the CPU
// backend's rules (backend/cpu/pool.hpp).
//
// One window walk for both: the general kernels (pool_forward_kernel, pool_backward_kernel and
// their *_nhwc twins) are templated on a reduction op, MaxOp (padding is -infinity, the
// gradient goes to the first maximum of a window in row-major order, a NaN wins its window) or
// AvgOp (the window's sum over its divisor, PoolShape::count_pad choosing PyTorch's
// count_include_pad rule). Max pooling keeps its faster specialised paths on top.
//
// Backward has two paths:
//   any window gathers: one thread per input element loops over the windows that contain
//     it and asks the op for their contribution (max: recompute the window's argmax; average:
//     dy / divisor), so overlapping windows need no atomics and the sums come out in the CPU's
//     order (0 + dy1 + dy2 ...).
//   max only, disjoint windows (stride == kernel, no padding: VGG's 2x2/2) scatter: one thread
//     per output element (for 2x2 windows on float planes of width % 4 == 0: per pair of outputs,
//     16-byte loads and stores) finds its window's maximum once, writes dy there and 0 to the
//     rest of the window; the last window row/column of a plane also zeroes the input rows and
//     columns that lie in no window. Every input element is written exactly once, no atomics.
// Forward uses the paired 2x2 path too where it applies (two 16-byte loads, one 8-byte store).
// NHWC data (PoolShape::channels_last) takes the *_nhwc kernels: the same rules and the same
// disjoint/gather split, one thread per element with consecutive threads on consecutive
// channels.
#pragma once

#include "kernels/common.cuh"

namespace graft {
namespace kernels {

struct PoolShape {
  int64_t planes = 0;     // n * c
  int h = 0, w = 0;       // input plane
  int oh = 0, ow = 0;     // output plane
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  // Channels last (NHWC, Context<CUDA>::set_channels_last): planes = n * c as before, and the
  // c channels of a position are adjacent in memory. The *_nhwc kernels below index that way.
  int c = 1;
  bool channels_last = false;
  bool count_pad = true;  // average pooling: the divisor counts padding (PyTorch's count_include_pad)
};

// Output (i, j)'s window clipped to the input: rows [h0, h1), columns [w0, w1); `padded`: its
// size clipped to the padded input instead (the count_include_pad divisor).
struct PoolSpan {
  int h0, h1, w0, w1, padded;
};
__device__ __forceinline__ PoolSpan pool_span(const PoolShape& s, int i, int j) {
  PoolSpan p;
  p.h0 = i * s.sh - s.ph;
  p.w0 = j * s.sw - s.pw;
  const int ph1 = min(p.h0 + s.kh, s.h + s.ph), pw1 = min(p.w0 + s.kw, s.w + s.pw);
  p.padded = (ph1 - p.h0) * (pw1 - p.w0);
  p.h1 = min(ph1, s.h);
  p.w1 = min(pw1, s.w);
  p.h0 = max(p.h0, 0);
  p.w0 = max(p.w0, 0);
  return p;
}

// Index within the plane (hh * w + ww) of the first maximum of output (i, j)'s window; the
// plane's element (hh, ww) is xp[(hh * w + ww) * cs] (cs = 1 for NCHW, c for NHWC).
template <class T>
__device__ __forceinline__ int pool_argmax(const PoolShape& s, const T* __restrict__ xp, const PoolSpan& p,
                                           int64_t cs = 1) {
  int best = p.h0 * s.w + p.w0;
  T m = -INFINITY;
  for (int hh = p.h0; hh < p.h1; ++hh)
    for (int ww = p.w0; ww < p.w1; ++ww) {
      const T v = xp[int64_t(hh * s.w + ww) * cs];
      if (v > m || v != v) {
        m = v;
        best = hh * s.w + ww;
        if (v != v) return best;
      }
    }
  return best;
}
template <class T>
__device__ __forceinline__ int pool_argmax(const PoolShape& s, const T* __restrict__ xp, int i, int j,
                                           int64_t cs = 1) {
  return pool_argmax(s, xp, pool_span(s, i, j), cs);
}

// The reductions of the general kernels: forward's value of a window, and backward's share of
// window p's output gradient g that goes to the plane's element q (q inside p), added to acc.
struct MaxOp {
  template <class T>
  __device__ static T forward(const PoolShape& s, const T* __restrict__ xp, const PoolSpan& p, int64_t cs) {
    return xp[int64_t(pool_argmax(s, xp, p, cs)) * cs];
  }
  template <class T>
  __device__ static void gather(const PoolShape& s, const T* __restrict__ xp, const PoolSpan& p, int64_t cs, int q,
                                T g, T& acc) {
    if (pool_argmax(s, xp, p, cs) == q) acc += g;
  }
};
struct AvgOp {
  template <class T>
  __device__ static T divisor(const PoolShape& s, const PoolSpan& p) {
    return T(s.count_pad ? p.padded : (p.h1 - p.h0) * (p.w1 - p.w0));
  }
  template <class T>
  __device__ static T forward(const PoolShape& s, const T* __restrict__ xp, const PoolSpan& p, int64_t cs) {
    T sum = T(0);  // row-major, as the CPU adds them
    for (int hh = p.h0; hh < p.h1; ++hh)
      for (int ww = p.w0; ww < p.w1; ++ww) sum += xp[int64_t(hh * s.w + ww) * cs];
    return sum / divisor<T>(s, p);
  }
  template <class T>
  __device__ static void gather(const PoolShape& s, const T* __restrict__ /*xp*/, const PoolSpan& p, int64_t /*cs*/,
                                int /*q*/, T g, T& acc) {
    acc += g / divisor<T>(s, p);
  }
};

template <class Op, class T, class I>
__global__ void __launch_bounds__(256) pool_forward_kernel(PoolShape s, const T* __restrict__ x,
                                                           T* __restrict__ y) {
  const I total = I(s.planes) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I plane = e / I(s.oh * s.ow);
    const int q = int(e - plane * I(s.oh * s.ow));
    const int i = q / s.ow, j = q - (q / s.ow) * s.ow;
    const T* xp = x + int64_t(plane) * s.h * s.w;
    y[e] = Op::forward(s, xp, pool_span(s, i, j), 1);
  }
}

template <class Op, class T, class I>
__global__ void __launch_bounds__(256) pool_backward_kernel(PoolShape s, const T* __restrict__ x,
                                                            const T* __restrict__ dy, T* __restrict__ dx) {
  const I total = I(s.planes) * I(s.h) * I(s.w);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I plane = e / I(s.h * s.w);
    const int q = int(e - plane * I(s.h * s.w));
    const int hh = q / s.w, ww = q - (q / s.w) * s.w;
    // windows i with i*sh - ph <= hh < i*sh - ph + kh (likewise j)
    const int ni = hh + s.ph - s.kh + 1, nj = ww + s.pw - s.kw + 1;
    const int i0 = ni <= 0 ? 0 : (ni + s.sh - 1) / s.sh, i1 = min(s.oh - 1, (hh + s.ph) / s.sh);
    const int j0 = nj <= 0 ? 0 : (nj + s.sw - 1) / s.sw, j1 = min(s.ow - 1, (ww + s.pw) / s.sw);
    const T* xp = x + int64_t(plane) * s.h * s.w;
    const T* dyp = dy + int64_t(plane) * s.oh * s.ow;
    T acc = T(0);
    for (int i = i0; i <= i1; ++i)
      for (int j = j0; j <= j1; ++j) Op::gather(s, xp, pool_span(s, i, j), 1, q, dyp[i * s.ow + j], acc);
    dx[e] = acc;
  }
}

// Stride equal to the kernel and no padding: every input element lies in at most one window.
GRAFT_HD bool pool_disjoint(const PoolShape& s) {
  return s.sh == s.kh && s.sw == s.kw && s.ph == 0 && s.pw == 0;
}

// The first maximum of a 2x2 window given in row-major order (a, b / c, d): 0..3, by
// pool_argmax's rule (strictly greater replaces, a NaN wins and ends the search).
template <class T>
GRAFT_HD int argmax4(T a, T b, T c, T d) {
  const T v[4] = {a, b, c, d};
  int best = 0;
  T m = -INFINITY;
  for (int k = 0; k < 4; ++k)
    if (v[k] > m || v[k] != v[k]) {
      m = v[k];
      best = k;
      if (v[k] != v[k]) break;
    }
  return best;
}

// Disjoint windows, any size: one thread per output element writes its whole window of dx
// (dy at the first maximum, 0 elsewhere), extended to the plane's edge for the last window
// row/column, so that input rows/columns in no window get their 0 too.
template <class T, class I>
__global__ void __launch_bounds__(256) maxpool_backward_disjoint_kernel(PoolShape s, const T* __restrict__ x,
                                                                        const T* __restrict__ dy,
                                                                        T* __restrict__ dx) {
  const I total = I(s.planes) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I plane = e / I(s.oh * s.ow);
    const int q = int(e - plane * I(s.oh * s.ow));
    const int i = q / s.ow, j = q - (q / s.ow) * s.ow;
    const T* xp = x + int64_t(plane) * s.h * s.w;
    T* dxp = dx + int64_t(plane) * s.h * s.w;
    const int best = pool_argmax(s, xp, i, j);
    const T g = T(0) + dy[e];  // (0 + dy: the CPU's sum, so that -0 comes out as +0 on both)
    const int r0 = i * s.kh, r1 = i == s.oh - 1 ? s.h : min(r0 + s.kh, s.h);
    const int c0 = j * s.kw, c1 = j == s.ow - 1 ? s.w : min(c0 + s.kw, s.w);
    for (int r = r0; r < r1; ++r)
      for (int c = c0; c < c1; ++c) dxp[r * s.w + c] = r * s.w + c == best ? g : T(0);
  }
}

// 2x2 windows on float planes with w % 4 == 0 and 2*oh <= h (no window cut by the bottom
// edge): one thread per pair of horizontally adjacent outputs, i.e. a 2x4 block of the input,
// read and written as two float4 (rows start 16-byte aligned: the launcher checks the base
// pointers). Forward writes the pair as one float2; backward reads dy as one float2 and
// zeroes the odd last input row (h = 2*oh + 1) from the plane's last output row.
template <class I>
__global__ void __launch_bounds__(256) maxpool2x2_forward_pairs_kernel(PoolShape s, const float* __restrict__ x,
                                                                       float* __restrict__ y) {
  const int pairs = s.ow / 2;
  const I total = I(s.planes) * I(s.oh) * I(pairs);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I row = e / I(pairs);  // plane * oh + i
    const int t = int(e - row * I(pairs));
    const I plane = row / I(s.oh);
    const int i = int(row - plane * I(s.oh));
    const float* xr = x + (int64_t(plane) * s.h + 2 * i) * s.w + 4 * t;
    const float4 a = *reinterpret_cast<const float4*>(xr);
    const float4 b = *reinterpret_cast<const float4*>(xr + s.w);
    const float l[4] = {a.x, a.y, b.x, b.y}, r[4] = {a.z, a.w, b.z, b.w};
    float2 out;
    out.x = l[argmax4(l[0], l[1], l[2], l[3])];
    out.y = r[argmax4(r[0], r[1], r[2], r[3])];
    reinterpret_cast<float2*>(y)[e] = out;
  }
}

template <class I>
__global__ void __launch_bounds__(256) maxpool2x2_backward_pairs_kernel(PoolShape s, const float* __restrict__ x,
                                                                        const float* __restrict__ dy,
                                                                        float* __restrict__ dx) {
  const int pairs = s.ow / 2;
  const I total = I(s.planes) * I(s.oh) * I(pairs);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I row = e / I(pairs);
    const int t = int(e - row * I(pairs));
    const I plane = row / I(s.oh);
    const int i = int(row - plane * I(s.oh));
    const int64_t off = (int64_t(plane) * s.h + 2 * i) * s.w + 4 * t;
    const float4 a = *reinterpret_cast<const float4*>(x + off);
    const float4 b = *reinterpret_cast<const float4*>(x + off + s.w);
    const float2 g = reinterpret_cast<const float2*>(dy)[e];
    const int kl = argmax4(a.x, a.y, b.x, b.y), kr = argmax4(a.z, a.w, b.z, b.w);
    const float gl = 0.0f + g.x, gr = 0.0f + g.y;
    float4 top, bottom;
    top.x = kl == 0 ? gl : 0.0f;
    top.y = kl == 1 ? gl : 0.0f;
    bottom.x = kl == 2 ? gl : 0.0f;
    bottom.y = kl == 3 ? gl : 0.0f;
    top.z = kr == 0 ? gr : 0.0f;
    top.w = kr == 1 ? gr : 0.0f;
    bottom.z = kr == 2 ? gr : 0.0f;
    bottom.w = kr == 3 ? gr : 0.0f;
    *reinterpret_cast<float4*>(dx + off) = top;
    *reinterpret_cast<float4*>(dx + off + s.w) = bottom;
    if (i == s.oh - 1) {
      float4 zero;
      zero.x = zero.y = zero.z = zero.w = 0.0f;
      for (int r = 2 * s.oh; r < s.h; ++r) *reinterpret_cast<float4*>(dx + off + int64_t(r - 2 * i) * s.w) = zero;
    }
  }
}

// ---- channels last (NHWC): one thread per element, consecutive threads on consecutive
// channels (coalesced); the same rules and the same two backward paths as above ----
template <class Op, class T, class I>
__global__ void __launch_bounds__(256) pool_forward_nhwc_kernel(PoolShape s, const T* __restrict__ x,
                                                                T* __restrict__ y) {
  const I total = I(s.planes) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    I r = e / I(s.c);
    const int ch = int(e - r * I(s.c));
    const I rj = r / I(s.ow);
    const int j = int(r - rj * I(s.ow));
    const I n = rj / I(s.oh);
    const int i = int(rj - n * I(s.oh));
    const T* xp = x + int64_t(n) * s.h * s.w * s.c + ch;
    y[e] = Op::forward(s, xp, pool_span(s, i, j), s.c);
  }
}

template <class Op, class T, class I>
__global__ void __launch_bounds__(256) pool_backward_nhwc_kernel(PoolShape s, const T* __restrict__ x,
                                                                 const T* __restrict__ dy, T* __restrict__ dx) {
  const I total = I(s.planes) * I(s.h) * I(s.w);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    I r = e / I(s.c);
    const int ch = int(e - r * I(s.c));
    const I rw = r / I(s.w);
    const int ww = int(r - rw * I(s.w));
    const I n = rw / I(s.h);
    const int hh = int(rw - n * I(s.h));
    const int q = hh * s.w + ww;
    const int ni = hh + s.ph - s.kh + 1, nj = ww + s.pw - s.kw + 1;
    const int i0 = ni <= 0 ? 0 : (ni + s.sh - 1) / s.sh, i1 = min(s.oh - 1, (hh + s.ph) / s.sh);
    const int j0 = nj <= 0 ? 0 : (nj + s.sw - 1) / s.sw, j1 = min(s.ow - 1, (ww + s.pw) / s.sw);
    const T* xp = x + int64_t(n) * s.h * s.w * s.c + ch;
    const T* dyp = dy + int64_t(n) * s.oh * s.ow * s.c + ch;
    T acc = T(0);
    for (int i = i0; i <= i1; ++i)
      for (int j = j0; j <= j1; ++j)
        Op::gather(s, xp, pool_span(s, i, j), s.c, q, dyp[int64_t(i * s.ow + j) * s.c], acc);
    dx[e] = acc;
  }
}

template <class T, class I>
__global__ void __launch_bounds__(256) maxpool_backward_disjoint_nhwc_kernel(PoolShape s, const T* __restrict__ x,
                                                                             const T* __restrict__ dy,
                                                                             T* __restrict__ dx) {
  const I total = I(s.planes) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    I r = e / I(s.c);
    const int ch = int(e - r * I(s.c));
    const I rj = r / I(s.ow);
    const int j = int(r - rj * I(s.ow));
    const I n = rj / I(s.oh);
    const int i = int(rj - n * I(s.oh));
    const int64_t base = int64_t(n) * s.h * s.w * s.c + ch;
    const int best = pool_argmax(s, x + base, i, j, s.c);
    const T g = T(0) + dy[e];
    T* dxp = dx + base;
    const int r0 = i * s.kh, r1 = i == s.oh - 1 ? s.h : min(r0 + s.kh, s.h);
    const int c0 = j * s.kw, c1 = j == s.ow - 1 ? s.w : min(c0 + s.kw, s.w);
    for (int rr = r0; rr < r1; ++rr)
      for (int cc = c0; cc < c1; ++cc) dxp[int64_t(rr * s.w + cc) * s.c] = rr * s.w + cc == best ? g : T(0);
  }
}

// NHWC float data with c % 4 == 0 (every VGG layer): one thread per 4 adjacent channels of an
// output position, 16-byte loads and stores; each lane keeps pool_argmax's rule on its own.
// Forward handles any window; backward the disjoint ones (overlapping windows keep the gather).
__device__ __forceinline__ void pool_argmax_c4(const PoolShape& s, const float* __restrict__ xp, int i, int j,
                                               int best[4], float m[4]) {
  int h0 = i * s.sh - s.ph, w0 = j * s.sw - s.pw;
  const int h1 = min(h0 + s.kh, s.h), w1 = min(w0 + s.kw, s.w);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  bool done[4];
  for (int k = 0; k < 4; ++k) {
    best[k] = h0 * s.w + w0;
    m[k] = -INFINITY;
    done[k] = false;
  }
  for (int hh = h0; hh < h1; ++hh)
    for (int ww = w0; ww < w1; ++ww) {
      const float4 v4 = *reinterpret_cast<const float4*>(xp + int64_t(hh * s.w + ww) * s.c);
      const float v[4] = {v4.x, v4.y, v4.z, v4.w};
      for (int k = 0; k < 4; ++k)
        if (!done[k] && (v[k] > m[k] || v[k] != v[k])) {
          m[k] = v[k];
          best[k] = hh * s.w + ww;
          done[k] = v[k] != v[k];
        }
    }
}

template <class I>
__global__ void __launch_bounds__(256) maxpool_forward_nhwc4_kernel(PoolShape s, const float* __restrict__ x,
                                                                    float* __restrict__ y) {
  const int c4 = s.c / 4;
  const I total = I(s.planes / 4) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I r = e / I(c4);
    const int cg = int(e - r * I(c4));
    const I rj = r / I(s.ow);
    const int j = int(r - rj * I(s.ow));
    const I n = rj / I(s.oh);
    const int i = int(rj - n * I(s.oh));
    int best[4];
    float m[4];
    pool_argmax_c4(s, x + int64_t(n) * s.h * s.w * s.c + 4 * cg, i, j, best, m);
    float4 out;
    out.x = m[0]; out.y = m[1]; out.z = m[2]; out.w = m[3];  // (m is the value at best, NaN included)
    reinterpret_cast<float4*>(y)[e] = out;
  }
}

template <class I>
__global__ void __launch_bounds__(256) maxpool_backward_disjoint_nhwc4_kernel(PoolShape s, const float* __restrict__ x,
                                                                              const float* __restrict__ dy,
                                                                              float* __restrict__ dx) {
  const int c4 = s.c / 4;
  const I total = I(s.planes / 4) * I(s.oh) * I(s.ow);
  const I stride = I(gridDim.x) * blockDim.x;
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const I r = e / I(c4);
    const int cg = int(e - r * I(c4));
    const I rj = r / I(s.ow);
    const int j = int(r - rj * I(s.ow));
    const I n = rj / I(s.oh);
    const int i = int(rj - n * I(s.oh));
    const int64_t base = int64_t(n) * s.h * s.w * s.c + 4 * cg;
    int best[4];
    float m[4];
    pool_argmax_c4(s, x + base, i, j, best, m);
    const float4 g4 = reinterpret_cast<const float4*>(dy)[e];
    const float g[4] = {0.0f + g4.x, 0.0f + g4.y, 0.0f + g4.z, 0.0f + g4.w};
    const int r0 = i * s.kh, r1 = i == s.oh - 1 ? s.h : min(r0 + s.kh, s.h);
    const int c0 = j * s.kw, c1 = j == s.ow - 1 ? s.w : min(c0 + s.kw, s.w);
    for (int rr = r0; rr < r1; ++rr)
      for (int cc = c0; cc < c1; ++cc) {
        const int q = rr * s.w + cc;
        float4 o;
        o.x = q == best[0] ? g[0] : 0.0f;
        o.y = q == best[1] ? g[1] : 0.0f;
        o.z = q == best[2] ? g[2] : 0.0f;
        o.w = q == best[3] ? g[3] : 0.0f;
        *reinterpret_cast<float4*>(dx + base + int64_t(q) * s.c) = o;
      }
  }
}

// Which kernel a call runs (the tests check that each is exercised).
enum class PoolPath { Gather, Disjoint, Pairs2x2, Channels4 };
inline const char* to_string(PoolPath p) {
  return p == PoolPath::Channels4  ? "NHWC float4"
         : p == PoolPath::Pairs2x2 ? "2x2 pairs"
         : p == PoolPath::Disjoint ? "disjoint"
                                   : "gather";
}
// NHWC float with c % 4 == 0 and 16-byte aligned pointers: the float4 kernels.
template <class T>
bool pool_channels4(const PoolShape& s, const T* a, const T* b, const T* c) {
  return s.channels_last && sizeof(T) == 4 && s.c % 4 == 0 && aligned(a, 16) && aligned(b, 16) && (!c || aligned(c, 16));
}
// Backward runs what this says; forward (dx null) runs Pairs2x2 or Channels4 where this says
// so, else its general kernel (NCHW or NHWC).
template <class T>
PoolPath maxpool_path(const PoolShape& s, const T* x, const T* out_or_dy, const T* dx = nullptr) {
  if (!dx && pool_channels4(s, x, out_or_dy, dx)) return PoolPath::Channels4;  // forward: any window
  if (!pool_disjoint(s)) return PoolPath::Gather;
  if (pool_channels4(s, x, out_or_dy, dx)) return PoolPath::Channels4;
  const bool pairs = !s.channels_last && sizeof(T) == 4 && s.kh == 2 && s.kw == 2 && s.w % 4 == 0 && 2 * s.oh <= s.h &&
                     2 * s.ow == s.w && aligned(x, 16) && aligned(out_or_dy, 8) && (!dx || aligned(dx, 16));
  return pairs ? PoolPath::Pairs2x2 : PoolPath::Disjoint;
}

// Launches k32 (the kernel instantiated for 32-bit indices: cheaper index arithmetic) when
// `small`, else k64 (64-bit indices), one thread per item in blocks of 256.
template <class K32, class K64, class... A>
void launch_indexed(bool small, K32 k32, K64 k64, int64_t items, cudaStream_t stream, const A&... args) {
  if (small)
    GRAFT_LAUNCH(k32, grid_for(items, 256), 256, stream, args...);
  else
    GRAFT_LAUNCH(k64, grid_for(items, 256), 256, stream, args...);
}

template <class T>
void maxpool_forward(const PoolShape& s, const T* x, T* y, cudaStream_t stream) {
  const int64_t total = s.planes * s.oh * s.ow;
  if (total <= 0) return;
  const bool small = total < (int64_t(1) << 31);  // (headroom: v + stride must not wrap)
  if constexpr (sizeof(T) == 4) {
    if (maxpool_path(s, x, y) == PoolPath::Pairs2x2) {
      const int64_t items = total / 2;
      const float* xf = reinterpret_cast<const float*>(x);
      float* yf = reinterpret_cast<float*>(y);
      launch_indexed(small, maxpool2x2_forward_pairs_kernel<uint32_t>,
                     maxpool2x2_forward_pairs_kernel<uint64_t>, items, stream, s, xf, yf);
      check_launch("maxpool_forward (2x2 pairs)", stream);
      return;
    }
  }
  if constexpr (sizeof(T) == 4) {
    if (maxpool_path(s, x, y) == PoolPath::Channels4) {
      const int64_t items = total / 4;
      const float* xf = reinterpret_cast<const float*>(x);
      float* yf = reinterpret_cast<float*>(y);
      launch_indexed(small, maxpool_forward_nhwc4_kernel<uint32_t>,
                     maxpool_forward_nhwc4_kernel<uint64_t>, items, stream, s, xf, yf);
      check_launch("maxpool_forward (NHWC float4)", stream);
      return;
    }
  }
  if (s.channels_last) {
    launch_indexed(small, pool_forward_nhwc_kernel<MaxOp, T, uint32_t>,
                   pool_forward_nhwc_kernel<MaxOp, T, uint64_t>, total, stream, s, x, y);
    check_launch("maxpool_forward (NHWC)", stream);
    return;
  }
  launch_indexed(small, pool_forward_kernel<MaxOp, T, uint32_t>,
                 pool_forward_kernel<MaxOp, T, uint64_t>, total, stream, s, x, y);
  check_launch("maxpool_forward", stream);
}

template <class T>
void maxpool_backward(const PoolShape& s, const T* x, const T* dy, T* dx, cudaStream_t stream) {
  const int64_t in_total = s.planes * s.h * s.w, out_total = s.planes * s.oh * s.ow;
  if (in_total <= 0) return;
  const bool small = in_total < (int64_t(1) << 31);  // (headroom: v + stride must not wrap)
  const PoolPath path = maxpool_path(s, x, dy, dx);
  if constexpr (sizeof(T) == 4) {
    if (path == PoolPath::Pairs2x2) {
      const int64_t items = out_total / 2;
      const float* xf = reinterpret_cast<const float*>(x);
      const float* dyf = reinterpret_cast<const float*>(dy);
      float* dxf = reinterpret_cast<float*>(dx);
      launch_indexed(small, maxpool2x2_backward_pairs_kernel<uint32_t>,
                     maxpool2x2_backward_pairs_kernel<uint64_t>, items, stream, s, xf, dyf, dxf);
      check_launch("maxpool_backward (2x2 pairs)", stream);
      return;
    }
  }
  if constexpr (sizeof(T) == 4) {
    if (path == PoolPath::Channels4) {
      const int64_t items = out_total / 4;
      const float* xf = reinterpret_cast<const float*>(x);
      const float* dyf = reinterpret_cast<const float*>(dy);
      float* dxf = reinterpret_cast<float*>(dx);
      launch_indexed(small, maxpool_backward_disjoint_nhwc4_kernel<uint32_t>,
                     maxpool_backward_disjoint_nhwc4_kernel<uint64_t>, items, stream, s, xf, dyf, dxf);
      check_launch("maxpool_backward (NHWC float4, disjoint windows)", stream);
      return;
    }
  }
  if (s.channels_last) {
    if (path == PoolPath::Disjoint) {
      launch_indexed(small, maxpool_backward_disjoint_nhwc_kernel<T, uint32_t>,
                     maxpool_backward_disjoint_nhwc_kernel<T, uint64_t>, out_total, stream, s, x, dy, dx);
    } else {
      launch_indexed(small, pool_backward_nhwc_kernel<MaxOp, T, uint32_t>,
                     pool_backward_nhwc_kernel<MaxOp, T, uint64_t>, in_total, stream, s, x, dy, dx);
    }
    check_launch(path == PoolPath::Disjoint ? "maxpool_backward (NHWC, disjoint windows)" : "maxpool_backward (NHWC)",
                 stream);
    return;
  }
  if (path != PoolPath::Gather) {
    if (out_total <= 0) return;  // (cannot happen: a pool has at least one window per plane)
    launch_indexed(small, maxpool_backward_disjoint_kernel<T, uint32_t>,
                   maxpool_backward_disjoint_kernel<T, uint64_t>, out_total, stream, s, x, dy, dx);
    check_launch("maxpool_backward (disjoint windows)", stream);
    return;
  }
  launch_indexed(small, pool_backward_kernel<MaxOp, T, uint32_t>,
                 pool_backward_kernel<MaxOp, T, uint64_t>, in_total, stream, s, x, dy, dx);
  check_launch("maxpool_backward", stream);
}

// Average pooling: the general kernels with AvgOp (one thread per output element forward, per
// input element backward), NCHW or NHWC.
template <class T>
void avgpool_forward(const PoolShape& s, const T* x, T* y, cudaStream_t stream) {
  const int64_t total = s.planes * s.oh * s.ow;
  if (total <= 0) return;
  const bool small = total < (int64_t(1) << 31);
  if (s.channels_last)
    launch_indexed(small, pool_forward_nhwc_kernel<AvgOp, T, uint32_t>,
                   pool_forward_nhwc_kernel<AvgOp, T, uint64_t>, total, stream, s, x, y);
  else
    launch_indexed(small, pool_forward_kernel<AvgOp, T, uint32_t>, pool_forward_kernel<AvgOp, T, uint64_t>,
                   total, stream, s, x, y);
  check_launch(s.channels_last ? "avgpool_forward (NHWC)" : "avgpool_forward", stream);
}
// (x is not read: the average's gradient does not depend on it; kept for the launchers' symmetry)
template <class T>
void avgpool_backward(const PoolShape& s, const T* x, const T* dy, T* dx, cudaStream_t stream) {
  const int64_t in_total = s.planes * s.h * s.w;
  if (in_total <= 0) return;
  const bool small = in_total < (int64_t(1) << 31);
  if (s.channels_last)
    launch_indexed(small, pool_backward_nhwc_kernel<AvgOp, T, uint32_t>,
                   pool_backward_nhwc_kernel<AvgOp, T, uint64_t>, in_total, stream, s, x, dy, dx);
  else
    launch_indexed(small, pool_backward_kernel<AvgOp, T, uint32_t>, pool_backward_kernel<AvgOp, T, uint64_t>,
                   in_total, stream, s, x, dy, dx);
  check_launch(s.channels_last ? "avgpool_backward (NHWC)" : "avgpool_backward", stream);
}

}  // namespace kernels
}  // namespace graft
