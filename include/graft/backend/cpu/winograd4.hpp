// Winograd F(4x4, 3x3) convolution on the host: the forward and backward-data passes of 3x3
// stride-1 kernels (padding up to 2), with the chunked products of winograd.hpp.
//
// Each 4x4 output tile comes from a 6x6 input tile (overlapping by 2) as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,   interpolation points 0, 1, -1, 2, -2 and infinity:
//   B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
//          0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
// 36 multiply-adds per tile and channel pair where direct convolution costs 16 * 9 = 144: 4x
// fewer (F(2x2, 3x3): 2.25x), and the transformed input is 36/16 = 2.25x the tile's outputs
// where F(2x2, 3x3)'s is 4x, so the transforms move less memory too. The price is accuracy:
// the larger constants lose a few more bits in float32 (test_conv_algos states the bound).
//
// backward_filter stays with F(2x2, 3x3) (ConvPlan picks it): its adjoint transforms in F(4x4)
// would cost more than they save on the weight gradients' short sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graft/backend/cpu/winograd.hpp"

namespace graft {
namespace cpu {
namespace winograd4 {

constexpr int kPositions = 36;  // of a 6x6 transformed tile

// The six combinations of B^T on a column of six values (also . B on a row).
template <class T>
inline void bt6(T d0, T d1, T d2, T d3, T d4, T d5, T* r) {
  r[0] = T(4) * d0 - T(5) * d2 + d4;
  r[1] = -T(4) * (d1 + d2) + d3 + d4;
  r[2] = T(4) * (d1 - d2) - d3 + d4;
  r[3] = T(2) * (d3 - d1) - d2 + d4;
  r[4] = T(2) * (d1 - d3) - d2 + d4;
  r[5] = T(4) * d1 - T(5) * d3 + d5;
}

// The four rows of A^T on six values (also . A).
template <class T>
inline void at4(T m0, T m1, T m2, T m3, T m4, T m5, T* y) {
  const T a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  y[0] = m0 + a + c;
  y[1] = b + T(2) * d;
  y[2] = a + T(4) * c;
  y[3] = b + T(8) * d + m5;
}

// U[xi][o][c] = (G g G^T)[xi] for g = w[o][c] (OIHW, 3x3); with transpose_flip g'[c][o] =
// rot180(w[o][c]), indexed [xi][c][o] (backward_data), as winograd::filter_transform.
// In training the weights change every step, so this runs in every forward and backward-data
// pass: laid out like F(2x2)'s (the kernels of a row gathered tap by tap into contiguous lines,
// then transformed a whole line at a time into the 36 planes), with G's fractions as
// multiplications (a scalar loop with divisions was 14 % of a ResNet-18 training step).
template <class T>
void filter_transform(const T* w, int64_t o_count, int64_t c_count, bool transpose_flip, T* u) {
  const int64_t plane = o_count * c_count;
  const int64_t outer = transpose_flip ? c_count : o_count, inner = transpose_flip ? o_count : c_count;
  const T q = T(0.25), s6 = T(1) / T(6), s12 = T(1) / T(12), s24 = T(1) / T(24);
#pragma omp parallel if (plane * 36 >= kParallelMin)
  {
    std::vector<T> buf(size_t(9 * inner));
#pragma omp for schedule(static)
    for (int64_t a = 0; a < outer; ++a) {
      const T* g[9];
      winograd::gather_kernel_lines(w, a, c_count, inner, transpose_flip, buf.data(), g);
      T* d[kPositions];
      for (int xi = 0; xi < kPositions; ++xi) d[xi] = u + xi * plane + a * inner;
#pragma GCC ivdep
      for (int64_t b = 0; b < inner; ++b) {
        T t[6][3];  // G g, one column j of g at a time (the six rows of G)
        for (int j = 0; j < 3; ++j) {
          const T g0 = g[j][b], g1 = g[3 + j][b], g2 = g[6 + j][b];
          t[0][j] = q * g0;
          t[1][j] = -s6 * (g0 + g1 + g2);
          t[2][j] = -s6 * (g0 - g1 + g2);
          t[3][j] = s24 * g0 + s12 * g1 + s6 * g2;
          t[4][j] = s24 * g0 - s12 * g1 + s6 * g2;
          t[5][j] = g2;
        }
        for (int i = 0; i < 6; ++i) {  // (G g) G^T
          const T r0 = t[i][0], r1 = t[i][1], r2 = t[i][2];
          d[6 * i + 0][b] = q * r0;
          d[6 * i + 1][b] = -s6 * (r0 + r1 + r2);
          d[6 * i + 2][b] = -s6 * (r0 - r1 + r2);
          d[6 * i + 3][b] = s24 * r0 + s12 * r1 + s6 * r2;
          d[6 * i + 4][b] = s24 * r0 - s12 * r1 + s6 * r2;
          d[6 * i + 5][b] = r2;
        }
      }
    }
  }
}

// V[xi][c][t] = (B^T d B)[xi] for the chunk's tiles; ld = the chunk's tile count. Per tile row
// the six input rows are copied into zero-padded lines and combined (B^T d, contiguous), then
// each tile's six columns (. B).
template <class T>
void input_transform(const winograd::Tiling& tl, const T* x, int64_t t0, int64_t t1, int64_t ld, T* v) {
  const int64_t lw = 4 * tl.tw + 2;
  const int64_t plane = tl.c * ld;
  std::vector<T> buf(size_t(12 * lw));
  T* line[6];
  T* r[6];
  for (int i = 0; i < 6; ++i) {
    line[i] = buf.data() + i * lw;
    r[i] = buf.data() + (6 + i) * lw;
  }
  for (int64_t c = 0; c < tl.c; ++c) {
    winograd::for_each_run(tl, t0, t1, [&](int64_t img, int64_t ty, int64_t tx0, int64_t tx1, int64_t t) {
      const T* xc = x + (img * tl.c + c) * tl.h * tl.w;
      const int64_t q0 = 4 * tx0, q1 = 4 * tx1 + 2;  // line columns used by the run
      for (int i = 0; i < 6; ++i) winograd::padded_line(tl, xc, 4 * ty - tl.ph + i, q0, q1, line[i]);
      {
        const T *l0 = line[0], *l1 = line[1], *l2 = line[2], *l3 = line[3], *l4 = line[4], *l5 = line[5];
        T *d0 = r[0], *d1 = r[1], *d2 = r[2], *d3 = r[3], *d4 = r[4], *d5 = r[5];
#pragma GCC ivdep
        for (int64_t q = q0; q < q1; ++q) {  // B^T d, whole lines at once
          d0[q] = T(4) * l0[q] - T(5) * l2[q] + l4[q];
          d1[q] = -T(4) * (l1[q] + l2[q]) + l3[q] + l4[q];
          d2[q] = T(4) * (l1[q] - l2[q]) - l3[q] + l4[q];
          d3[q] = T(2) * (l3[q] - l1[q]) - l2[q] + l4[q];
          d4[q] = T(2) * (l1[q] - l3[q]) - l2[q] + l4[q];
          d5[q] = T(4) * l1[q] - T(5) * l3[q] + l5[q];
        }
      }
      T* out = v + c * ld + t;
      const int64_t len = tx1 - tx0;
      for (int k = 0; k < 6; ++k) {  // (B^T d) B, one tile per four columns
        const T* rk = r[k] + q0;
        T* o[6];
        for (int l = 0; l < 6; ++l) o[l] = out + (6 * k + l) * plane;
        for (int64_t j = 0; j < len; ++j) {
          const T* a = rk + 4 * j;
          T res[6];
          bt6(a[0], a[1], a[2], a[3], a[4], a[5], res);
          for (int l = 0; l < 6; ++l) o[l][j] = res[l];
        }
      }
    });
  }
}

// y[img][o] tiles = A^T M A (+ bias) for the chunk's tiles; positions beyond the output are
// dropped.
template <class T>
void output_transform(const winograd::Tiling& tl, const T* m, int64_t t0, int64_t t1, int64_t ld,
                      const T* bias, T* y) {
  const int64_t plane = tl.o * ld;
  std::vector<T> buf(size_t(16 * tl.tw));
  for (int64_t o = 0; o < tl.o; ++o) {
    const T b = bias ? bias[o] : T(0);
    winograd::for_each_run(tl, t0, t1, [&](int64_t img, int64_t ty, int64_t tx0, int64_t tx1, int64_t t) {
      const int64_t len = tx1 - tx0;
      const T* p[36];
      for (int xi = 0; xi < 36; ++xi) p[xi] = m + xi * plane + o * ld + t;
      T* yl[16];  // output (row a, column b) of each tile of the run: line 4a + b
      for (int k = 0; k < 16; ++k) yl[k] = buf.data() + k * tl.tw;
#pragma GCC ivdep
      for (int64_t j = 0; j < len; ++j) {
        T s[6][4];  // M A, per row of the tile
        for (int i = 0; i < 6; ++i)
          at4(p[6 * i][j], p[6 * i + 1][j], p[6 * i + 2][j], p[6 * i + 3][j], p[6 * i + 4][j], p[6 * i + 5][j],
              s[i]);
        for (int bcol = 0; bcol < 4; ++bcol) {  // A^T (M A)
          T col[4];
          at4(s[0][bcol], s[1][bcol], s[2][bcol], s[3][bcol], s[4][bcol], s[5][bcol], col);
          for (int a = 0; a < 4; ++a) yl[4 * a + bcol][j] = col[a] + b;
        }
      }
      const int64_t rows = std::min<int64_t>(4, tl.oh - 4 * ty);
      for (int a = 0; a < rows; ++a) {
        T* row = y + ((img * tl.o + o) * tl.oh + 4 * ty + a) * tl.ow;
        for (int64_t j = 0; j < len; ++j) {
          const int64_t x0 = 4 * (tx0 + j);
          const int64_t cols = std::min<int64_t>(4, tl.ow - x0);
          for (int bcol = 0; bcol < cols; ++bcol) row[x0 + bcol] = yl[4 * a + bcol][j];
        }
      }
    });
  }
}

// F(4x4, 3x3)'s transforms, as winograd::convolve takes them. Its tiles hold four times the
// outputs of F(2x2, 3x3)'s, so a chunk needs a quarter as many for products as long.
struct F4x4 {
  static constexpr int kOut = 4, kPositions = winograd4::kPositions;
  static constexpr int64_t kMinTiles = winograd::kMinChunkTiles;
  template <class T>
  static void input(const winograd::Tiling& tl, const T* x, int64_t t0, int64_t t1, int64_t ld, T* v) {
    winograd4::input_transform(tl, x, t0, t1, ld, v);
  }
  template <class T>
  static void output(const winograd::Tiling& tl, const T* m, int64_t t0, int64_t t1, int64_t ld, const T* bias,
                     T* y) {
    winograd4::output_transform(tl, m, t0, t1, ld, bias, y);
  }
};

}  // namespace winograd4

// F(4x4, 3x3) forward and backward data of one layer; the transformed kernel is kept between
// forwards as WinogradConv's is.
template <class T>
class Winograd4Conv {
 public:
  void forward(Context<CPU>& ctx, const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const T* u = kept_.forward(w, g.o, g.c, winograd4::kPositions,
                               [&](T* dst) { winograd4::filter_transform(w, g.o, g.c, false, dst); });
    const winograd::Tiling tl(g.n, g.c, g.h, g.w, g.o, g.oh, g.ow, g.win.ph, g.win.pw, 4);
    winograd::convolve<T, winograd4::F4x4>(ctx, tl, x, u, b, y);
  }

  void backward_data(Context<CPU>& ctx, const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    T* u = kept_.scratch(winograd4::kPositions * g.o * g.c);
    winograd4::filter_transform(w, g.o, g.c, true, u);
    const winograd::Tiling tl(g.n, g.o, g.oh, g.ow, g.c, g.h, g.w, 2 - g.win.ph, 2 - g.win.pw, 4);
    winograd::convolve<T, winograd4::F4x4>(ctx, tl, dy, static_cast<const T*>(u), static_cast<const T*>(nullptr),
                                           dx);
  }

 private:
  winograd::KeptKernel<T> kept_;
};

}  // namespace cpu
}  // namespace graft
