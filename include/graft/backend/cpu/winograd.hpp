// Winograd F(2x2, 3x3) convolution on the host (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): 3x3 kernels with stride 1, any padding up to 2.
//
// Each 2x2 output tile Y comes from a 4x4 input tile d (overlapping by 2) as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Summed over input channels, the elementwise product turns into 16 matrix products, one
// per position xi of the 4x4 transformed tile:
//   M_xi (O x T) = U_xi (O x C) * V_xi (C x T),  U = G g G^T per (o, c), V = B^T d B per (c, tile)
// which costs 16 multiply-adds per tile and channel pair where direct convolution costs
// 4 * 9 = 36: 2.25x fewer. The transforms are additions only (and halvings in G).
//
// backward_data is the same algorithm on dy with the kernel rotated by 180 degrees, its
// in/out channels swapped and padding 2 - p. backward_filter is the adjoint of the forward
// map with respect to g: dU_xi (O x C) = sum over tiles of (A dY A^T)_xi (O x T) * V_xi^T,
// then dW = G^T dU G.
//
// Tiles are processed in chunks (spanning images), each by one thread from its transforms to
// its products: small enough that a chunk's transformed input and products stay in that
// core's caches, large enough for efficient products. The buffers of the chunks live in the
// context's scratch space; the transformed kernel in the plan.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/cpu/gemm.hpp"
#include "graft/backend/cpu/parallel.hpp"
#include "graft/backend/geometry.hpp"

namespace graft {
namespace cpu {
namespace winograd {

constexpr int kTile = 16;  // positions of a 4x4 transformed tile

// Tiling of one convolution (or of the transposed one for backward_data) into m x m output
// tiles (m = 2 here, 4 for F(4x4, 3x3) in winograd4.hpp).
struct Tiling {
  int64_t n, c, h, w;       // input
  int64_t o, oh, ow;        // output
  int64_t ph, pw;           // zero padding of the input
  int64_t th, tw, per_img;  // tiles per column, per row, per image
  int64_t total;            // tiles in the batch
  Tiling(int64_t n_, int64_t c_, int64_t h_, int64_t w_, int64_t o_, int64_t oh_, int64_t ow_,
         int64_t ph_, int64_t pw_, int64_t m = 2)
      : n(n_), c(c_), h(h_), w(w_), o(o_), oh(oh_), ow(ow_), ph(ph_), pw(pw_) {
    th = (oh + m - 1) / m;
    tw = (ow + m - 1) / m;
    per_img = th * tw;
    total = n * per_img;
  }
};

// Calls f(img, ty, tx0, tx1, t) for each run of tiles [tx0, tx1) of one tile row that lies
// in the chunk [t0, t1); t is the run's first tile's index within the chunk.
template <class F>
void for_each_run(const Tiling& tl, int64_t t0, int64_t t1, F&& f) {
  int64_t t = t0;
  while (t < t1) {
    const int64_t img = t / tl.per_img, r = t % tl.per_img, ty = r / tl.tw, tx = r % tl.tw;
    const int64_t len = std::min(tl.tw - tx, t1 - t);
    f(img, ty, tx, tx + len, t - t0);
    t += len;
  }
}

// The 3x3 kernels of filter_transform's outer index a (output channel o, or input channel c
// with transpose_flip) gathered tap by tap into nine contiguous lines over the inner index:
// g[i][b] = tap i of kernel (a, b), rot180 with the flip. buf holds 9 * inner values.
template <class T>
void gather_kernel_lines(const T* w, int64_t a, int64_t c_count, int64_t inner, bool transpose_flip, T* buf,
                         const T* g[9]) {
  const T* base = transpose_flip ? w + a * 9 : w + a * c_count * 9;
  const int64_t stride = transpose_flip ? c_count * 9 : 9;  // between kernels of consecutive b
  for (int i = 0; i < 9; ++i) {
    T* gi = buf + i * inner;
    const T* src = base + (transpose_flip ? 8 - i : i);
    for (int64_t b = 0; b < inner; ++b) gi[b] = src[b * stride];
    g[i] = gi;
  }
}

// U[xi][o][c] = (G g G^T)[xi] for g = w[o][c] (OIHW, 3x3). With `transpose_flip` the kernel
// used is g'[c][o] = rot180(w[o][c]) and U is indexed [xi][c][o] (backward_data).
// U's planes run contiguous over their inner index (c, or o with the flip): per value of the
// outer index the kernels of a row are first gathered tap by tap into contiguous lines, then
// transformed a whole line at a time (vectorisable, contiguous stores into the 16 planes).
template <class T>
void filter_transform(const T* w, int64_t o_count, int64_t c_count, bool transpose_flip, T* u) {
  const int64_t plane = o_count * c_count;
  const int64_t outer = transpose_flip ? c_count : o_count, inner = transpose_flip ? o_count : c_count;
#pragma omp parallel if (plane * 9 >= kParallelMin)
  {
    std::vector<T> buf(size_t(9 * inner));
#pragma omp for schedule(static)
    for (int64_t a = 0; a < outer; ++a) {
      const T* g[9];
      gather_kernel_lines(w, a, c_count, inner, transpose_flip, buf.data(), g);
      T* d[16];
      for (int xi = 0; xi < 16; ++xi) d[xi] = u + xi * plane + a * inner;
#pragma GCC ivdep
      for (int64_t b = 0; b < inner; ++b) {
        T t[4][3];  // G g
        for (int j = 0; j < 3; ++j) {
          const T g0 = g[j][b], g1 = g[3 + j][b], g2 = g[6 + j][b];
          t[0][j] = g0;
          t[1][j] = T(0.5) * (g0 + g1 + g2);
          t[2][j] = T(0.5) * (g0 - g1 + g2);
          t[3][j] = g2;
        }
        for (int i = 0; i < 4; ++i) {  // (G g) G^T
          d[4 * i + 0][b] = t[i][0];
          d[4 * i + 1][b] = T(0.5) * (t[i][0] + t[i][1] + t[i][2]);
          d[4 * i + 2][b] = T(0.5) * (t[i][0] - t[i][1] + t[i][2]);
          d[4 * i + 3][b] = t[i][2];
        }
      }
    }
  }
}

// dW[o][c] = G^T dU[.][o][c] G (the adjoint of filter_transform without flip), overwriting dw.
// Per output channel a whole row of c at a time (vectorisable), the 3x3 results through
// contiguous lines, then interleaved into dW's OIHW order.
template <class T>
void filter_gradient(const T* du, int64_t o_count, int64_t c_count, T* dw) {
  const int64_t plane = o_count * c_count;
#pragma omp parallel if (plane * 9 >= kParallelMin)
  {
    std::vector<T> buf(size_t(9 * c_count));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < o_count; ++o) {
      const T* s[16];
      for (int xi = 0; xi < 16; ++xi) s[xi] = du + xi * plane + o * c_count;
      T* g[9];
      for (int i = 0; i < 9; ++i) g[i] = buf.data() + i * c_count;
#pragma GCC ivdep
      for (int64_t c = 0; c < c_count; ++c) {
        T t[3][4];  // G^T dU
        for (int j = 0; j < 4; ++j) {
          const T u0 = s[j][c], u1 = s[4 + j][c], u2 = s[8 + j][c], u3 = s[12 + j][c];
          t[0][j] = u0 + T(0.5) * (u1 + u2);
          t[1][j] = T(0.5) * (u1 - u2);
          t[2][j] = T(0.5) * (u1 + u2) + u3;
        }
        for (int i = 0; i < 3; ++i) {  // (G^T dU) G
          g[3 * i + 0][c] = t[i][0] + T(0.5) * (t[i][1] + t[i][2]);
          g[3 * i + 1][c] = T(0.5) * (t[i][1] - t[i][2]);
          g[3 * i + 2][c] = T(0.5) * (t[i][1] + t[i][2]) + t[i][3];
        }
      }
      T* out = dw + o * c_count * 9;
      for (int i = 0; i < 9; ++i)
        for (int64_t c = 0; c < c_count; ++c) out[c * 9 + i] = g[i][c];
    }
  }
}

// Columns [q0, q1) of input row ih of one plane as a zero-padded line: line column q holds
// input column q - pw, zero outside the input (and the whole line for a row outside it).
// Both input transforms (F(2x2) here, F(4x4) in winograd4.hpp) read their rows this way.
template <class T>
inline void padded_line(const Tiling& tl, const T* plane, int64_t ih, int64_t q0, int64_t q1, T* l) {
  if (ih < 0 || ih >= tl.h) {
    for (int64_t q = q0; q < q1; ++q) l[q] = T(0);
    return;
  }
  const T* src = plane + ih * tl.w;
  const int64_t lo = std::max(q0, tl.pw), hi = std::min(q1, tl.w + tl.pw);
  for (int64_t q = q0; q < std::min(lo, q1); ++q) l[q] = T(0);
  for (int64_t q = lo; q < hi; ++q) l[q] = src[q - tl.pw];
  for (int64_t q = std::max(hi, q0); q < q1; ++q) l[q] = T(0);
}

// V[xi][c][t] = (B^T d B)[xi] for the chunk's tiles; ld = the chunk's tile count.
// Per tile row the four input rows are first copied into zero-padded lines and combined
// (B^T d, contiguous and vectorisable), then each tile's columns (. B).
template <class T>
void input_transform(const Tiling& tl, const T* x, int64_t t0, int64_t t1, int64_t ld, T* v,
                     bool parallel = true) {
  const int64_t lw = 2 * tl.tw + 2;  // a padded line covers every tile of the row
  const int64_t plane = tl.c * ld;
#pragma omp parallel if (parallel)
  {
    std::vector<T> buf(size_t(8 * lw));
    T* line[4] = {buf.data(), buf.data() + lw, buf.data() + 2 * lw, buf.data() + 3 * lw};
    T* r[4] = {buf.data() + 4 * lw, buf.data() + 5 * lw, buf.data() + 6 * lw, buf.data() + 7 * lw};
#pragma omp for schedule(static)
    for (int64_t c = 0; c < tl.c; ++c) {
      for_each_run(tl, t0, t1, [&](int64_t img, int64_t ty, int64_t tx0, int64_t tx1, int64_t t) {
        const T* xc = x + (img * tl.c + c) * tl.h * tl.w;
        const int64_t q0 = 2 * tx0, q1 = 2 * tx1 + 2;  // line columns used by the run
        for (int i = 0; i < 4; ++i) padded_line(tl, xc, 2 * ty - tl.ph + i, q0, q1, line[i]);
        {  // B^T d, whole lines at once
          const T* l0 = line[0];
          const T* l1 = line[1];
          const T* l2 = line[2];
          const T* l3 = line[3];
          T* d0 = r[0];
          T* d1 = r[1];
          T* d2 = r[2];
          T* d3 = r[3];
#pragma GCC ivdep
          for (int64_t q = q0; q < q1; ++q) {
            d0[q] = l0[q] - l2[q];
            d1[q] = l1[q] + l2[q];
            d2[q] = l2[q] - l1[q];
            d3[q] = l1[q] - l3[q];
          }
        }
        T* out = v + c * ld + t;
        const int64_t len = tx1 - tx0;
        for (int k = 0; k < 4; ++k) {  // (B^T d) B, one tile per column pair
          const T* rk = r[k] + q0;
          T* o0 = out + (4 * k + 0) * plane;
          T* o1 = out + (4 * k + 1) * plane;
          T* o2 = out + (4 * k + 2) * plane;
          T* o3 = out + (4 * k + 3) * plane;
          for (int64_t j = 0; j < len; ++j) {
            const T a = rk[2 * j], b = rk[2 * j + 1], cc = rk[2 * j + 2], d = rk[2 * j + 3];
            o0[j] = a - cc;
            o1[j] = b + cc;
            o2[j] = cc - b;
            o3[j] = b - d;
          }
        }
      });
    }
  }
}

// y[img][o] tiles = A^T M A (+ bias) for the chunk's tiles; positions beyond the output
// (odd sizes) are dropped. Per run of tiles the four outputs of each tile are computed into
// four contiguous lines (vectorisable), then interleaved into the two output rows.
template <class T>
void output_transform(const Tiling& tl, const T* m, int64_t t0, int64_t t1, int64_t ld,
                      const T* bias, T* y, bool parallel = true) {
  const int64_t plane = tl.o * ld;
#pragma omp parallel if (parallel)
  {
    std::vector<T> buf(size_t(4 * tl.tw));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < tl.o; ++o) {
      const T b = bias ? bias[o] : T(0);
      for_each_run(tl, t0, t1, [&](int64_t img, int64_t ty, int64_t tx0, int64_t tx1, int64_t t) {
        const int64_t len = tx1 - tx0;
        T* y00 = buf.data();
        T* y01 = y00 + tl.tw;
        T* y10 = y01 + tl.tw;
        T* y11 = y10 + tl.tw;
        const T* p[16];
        for (int xi = 0; xi < 16; ++xi) p[xi] = m + xi * plane + o * ld + t;
#pragma GCC ivdep
        for (int64_t j = 0; j < len; ++j) {
          T s0[4], s1[4];  // M A per row of the tile
          for (int i = 0; i < 4; ++i) {
            const T m0 = p[4 * i][j], m1 = p[4 * i + 1][j], m2 = p[4 * i + 2][j], m3 = p[4 * i + 3][j];
            s0[i] = m0 + m1 + m2;
            s1[i] = m1 - m2 - m3;
          }
          y00[j] = s0[0] + s0[1] + s0[2] + b;  // A^T (M A)
          y01[j] = s1[0] + s1[1] + s1[2] + b;
          y10[j] = s0[1] - s0[2] - s0[3] + b;
          y11[j] = s1[1] - s1[2] - s1[3] + b;
        }
        T* r0 = y + ((img * tl.o + o) * tl.oh + 2 * ty) * tl.ow + 2 * tx0;
        const bool second_row = 2 * ty + 1 < tl.oh;
        // tiles with both columns inside the output, then at most one half-outside tile
        const int64_t full = std::max<int64_t>(0, std::min(len, tl.ow / 2 - tx0));
        for (int64_t j = 0; j < full; ++j) {
          r0[2 * j] = y00[j];
          r0[2 * j + 1] = y01[j];
        }
        for (int64_t j = full; j < len; ++j) r0[2 * j] = y00[j];
        if (second_row) {
          T* r1 = r0 + tl.ow;
          for (int64_t j = 0; j < full; ++j) {
            r1[2 * j] = y10[j];
            r1[2 * j + 1] = y11[j];
          }
          for (int64_t j = full; j < len; ++j) r1[2 * j] = y10[j];
        }
      });
    }
  }
}

// Z[xi][o][t] = (A dY A^T)[xi] for the chunk's tiles (the adjoint of output_transform);
// positions beyond the output count as zero. Per run the tiles' four values are first
// gathered into contiguous lines, then transformed (vectorisable).
template <class T>
void grad_transform(const Tiling& tl, const T* dy, int64_t t0, int64_t t1, int64_t ld, T* z,
                    bool parallel = true) {
  const int64_t plane = tl.o * ld;
#pragma omp parallel if (parallel)
  {
    std::vector<T> buf(size_t(4 * tl.tw));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < tl.o; ++o) {
      for_each_run(tl, t0, t1, [&](int64_t img, int64_t ty, int64_t tx0, int64_t tx1, int64_t t) {
        const int64_t len = tx1 - tx0;
        T* y00 = buf.data();
        T* y01 = y00 + tl.tw;
        T* y10 = y01 + tl.tw;
        T* y11 = y10 + tl.tw;
        const T* r0 = dy + ((img * tl.o + o) * tl.oh + 2 * ty) * tl.ow + 2 * tx0;
        const bool second_row = 2 * ty + 1 < tl.oh;
        const int64_t full = std::max<int64_t>(0, std::min(len, tl.ow / 2 - tx0));
        for (int64_t j = 0; j < full; ++j) {
          y00[j] = r0[2 * j];
          y01[j] = r0[2 * j + 1];
        }
        for (int64_t j = full; j < len; ++j) {
          y00[j] = r0[2 * j];
          y01[j] = T(0);
        }
        if (second_row) {
          const T* r1 = r0 + tl.ow;
          for (int64_t j = 0; j < full; ++j) {
            y10[j] = r1[2 * j];
            y11[j] = r1[2 * j + 1];
          }
          for (int64_t j = full; j < len; ++j) {
            y10[j] = r1[2 * j];
            y11[j] = T(0);
          }
        } else {
          for (int64_t j = 0; j < len; ++j) y10[j] = y11[j] = T(0);
        }
        T* q[16];
        for (int xi = 0; xi < 16; ++xi) q[xi] = z + xi * plane + o * ld + t;
#pragma GCC ivdep
        for (int64_t j = 0; j < len; ++j) {
          // A dY: rows (y0, y0 + y1, y0 - y1, -y1) of the 2-column tile
          const T a[4][2] = {{y00[j], y01[j]},
                             {y00[j] + y10[j], y01[j] + y11[j]},
                             {y00[j] - y10[j], y01[j] - y11[j]},
                             {-y10[j], -y11[j]}};
          for (int i = 0; i < 4; ++i) {  // (A dY) A^T: columns (a, a + b, a - b, -b)
            q[4 * i][j] = a[i][0];
            q[4 * i + 1][j] = a[i][0] + a[i][1];
            q[4 * i + 2][j] = a[i][0] - a[i][1];
            q[4 * i + 3][j] = -a[i][1];
          }
        }
      });
    }
  }
}

// Scratch elements for one thread's chunk (its transformed input and products): about the
// size of a core's L2 cache for VGG's shallow layers; at least kMinChunkTiles tiles, for
// efficient products.
constexpr int64_t kThreadBudget = int64_t(256) << 10;
constexpr int64_t kMinChunkTiles = 128;

struct Chunks {
  int64_t tiles, count;
};
// Chunks for threads that each take whole chunks: about kThreadBudget elements of data
// each, at least min_tiles tiles, at least one chunk per thread, evened out.
inline Chunks thread_chunks(const Tiling& tl, int threads, int64_t positions = kTile,
                            int64_t min_tiles = kMinChunkTiles) {
  const int64_t most = std::max(min_tiles, kThreadBudget / (positions * (tl.c + tl.o)));
  const int64_t count = std::max<int64_t>((tl.total + most - 1) / most, std::min<int64_t>(threads, tl.total));
  const int64_t tiles = (tl.total + count - 1) / count;
  return {tiles, (tl.total + tiles - 1) / tiles};
}

// F(2x2, 3x3)'s transforms, as convolve() takes them.
struct F2x2 {
  static constexpr int kOut = 2, kPositions = kTile;
  static constexpr int64_t kMinTiles = kMinChunkTiles;
  template <class T>
  static void input(const Tiling& tl, const T* x, int64_t t0, int64_t t1, int64_t ld, T* v) {
    input_transform(tl, x, t0, t1, ld, v, false);
  }
  template <class T>
  static void output(const Tiling& tl, const T* m, int64_t t0, int64_t t1, int64_t ld, const T* bias, T* y) {
    output_transform(tl, m, t0, t1, ld, bias, y, false);
  }
};

// y = conv(x, u) + bias where u holds the transformed kernel [xi][o][c] (tl.o outputs), with
// the transforms of V (F2x2, or F4x4 of winograd4.hpp). Each thread takes whole chunks
// (input transform, one one-thread product per position, output transform), so a chunk's
// data stays in that core's caches and no thread waits for another between the steps.
template <class T, class V = F2x2>
void convolve(Context<CPU>& ctx, const Tiling& tl, const T* x, const T* u, const T* bias, T* y) {
  constexpr int P = V::kPositions;
  const int threads = Context<CPU>::threads();
  const Chunks ck = thread_chunks(tl, threads, P, V::kMinTiles);
  const int64_t tb = ck.tiles, chunks = ck.count;
  const int64_t per = P * (tl.c + tl.o) * tb;
  T* buf = ctx.scratch<T>(size_t(per * threads));
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t ch = 0; ch < chunks; ++ch) {
#if defined(_OPENMP)
    T* v = buf + per * omp_get_thread_num();
#else
    T* v = buf;
#endif
    T* m = v + P * tl.c * tb;
    const int64_t t0 = ch * tb, t1 = std::min(tl.total, t0 + tb), len = t1 - t0;
    if (len <= 0) continue;
    V::input(tl, x, t0, t1, len, v);
    for (int xi = 0; xi < P; ++xi)
      gemm_serial<T>(false, false, tl.o, len, tl.c, T(1), u + xi * tl.o * tl.c, tl.c,
                     v + xi * tl.c * len, len, T(0), m + xi * tl.o * len, len);
    V::output(tl, m, t0, t1, len, bias, y);
  }
}

// The transformed kernel of a forward, kept while the weights are the ones it was made from:
// compared value by value with a copy kept for that (a frozen layer, inference: the weights
// never change, and the comparison reads them once where the transform scatters them over
// the planes); any change (a training step) transforms again. The buffer doubles as the
// backward passes' scratch, which drops what it kept.
template <class T>
class KeptKernel {
 public:
  template <class Transform>
  const T* forward(const T* w, int64_t o, int64_t c, int64_t positions, Transform&& transform) {
    const int64_t wsize = o * c * 9;
    if (!(kept_ && o_ == o && c_ == c && std::memcmp(w, w_.data(), size_t(wsize) * sizeof(T)) == 0)) {
      u_.resize(Shape{positions * o * c});
      transform(u_.data());
      w_.resize(Shape{wsize});
      std::copy(w, w + wsize, w_.data());
      o_ = o;
      c_ = c;
      kept_ = true;
    }
    return u_.data();
  }
  // n elements for a backward pass (the kept kernel is dropped).
  T* scratch(int64_t n) {
    kept_ = false;
    u_.resize(Shape{n});
    return u_.data();
  }

 private:
  Tensor<T> u_;
  Tensor<T> w_;  // compared as stored bytes: a NaN weight matches itself
  int64_t o_ = 0, c_ = 0;
  bool kept_ = false;
};

}  // namespace winograd

// The Winograd convolution of one layer: the transformed kernel is kept between forwards
// (KeptKernel). backward_data's flipped kernel is recomputed every call in the same buffer.
template <class T>
class WinogradConv {
 public:
  void forward(Context<CPU>& ctx, const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const T* u = kept_.forward(w, g.o, g.c, winograd::kTile,
                               [&](T* dst) { winograd::filter_transform(w, g.o, g.c, false, dst); });
    const winograd::Tiling tl(g.n, g.c, g.h, g.w, g.o, g.oh, g.ow, g.win.ph, g.win.pw);
    winograd::convolve(ctx, tl, x, u, b, y);
  }

  void backward_data(Context<CPU>& ctx, const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    T* u = kept_.scratch(winograd::kTile * g.o * g.c);
    winograd::filter_transform(w, g.o, g.c, true, u);
    const winograd::Tiling tl(g.n, g.o, g.oh, g.ow, g.c, g.h, g.w, 2 - g.win.ph, 2 - g.win.pw);
    winograd::convolve(ctx, tl, dy, static_cast<const T*>(u), static_cast<const T*>(nullptr), dx);
  }

  // Each thread accumulates its chunks' products into a gradient of its own (16 x O x C);
  // the threads' gradients are then added and transformed back to 3x3. The chunks go to the
  // threads in a fixed (static) partition, so dW is the same from run to run.
  void backward_filter(Context<CPU>& ctx, const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const winograd::Tiling tl(g.n, g.c, g.h, g.w, g.o, g.oh, g.ow, g.win.ph, g.win.pw);
    const int threads = Context<CPU>::threads();
    const winograd::Chunks ck = winograd::thread_chunks(tl, threads);
    const int64_t dsize = winograd::kTile * g.o * g.c;
    const int64_t per = winograd::kTile * (tl.c + tl.o) * ck.tiles;
    T* dus = kept_.scratch(dsize * threads);  // one dU per thread
    T* buf = ctx.scratch<T>(size_t(per * threads));
    std::vector<char> used(size_t(threads), 0);
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < ck.count; ++ch) {
#if defined(_OPENMP)
      const int tid = omp_get_thread_num();
#else
      const int tid = 0;
#endif
      T* v = buf + per * tid;
      T* z = v + winograd::kTile * tl.c * ck.tiles;
      T* du = dus + dsize * tid;
      const int64_t t0 = ch * ck.tiles, t1 = std::min(tl.total, t0 + ck.tiles), len = t1 - t0;
      if (len <= 0) continue;
      winograd::input_transform(tl, x, t0, t1, len, v, false);
      winograd::grad_transform(tl, dy, t0, t1, len, z, false);
      const T beta = used[size_t(tid)] ? T(1) : T(0);
      used[size_t(tid)] = 1;
      for (int xi = 0; xi < winograd::kTile; ++xi)
        gemm_serial<T>(false, true, tl.o, tl.c, len, T(1), z + xi * tl.o * len, len,
                       v + xi * tl.c * len, len, beta, du + xi * tl.o * tl.c, tl.c);
    }
    T* du = dus;
    bool first = used[0] != 0;
    for (int t = 1; t < threads; ++t) {
      if (!used[size_t(t)]) continue;
      const T* other = dus + dsize * t;
      const bool copy_only = !first;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < dsize; ++i) du[i] = copy_only ? other[i] : du[i] + other[i];
      first = true;
    }
    winograd::filter_gradient(du, g.o, g.c, dw);
  }

 private:
  winograd::KeptKernel<T> kept_;  // the transformed kernel, or the backward passes' scratch
};

}  // namespace cpu
}  // namespace graft
