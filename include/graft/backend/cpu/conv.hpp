// 2-d convolution on the host: im2col per image, then one matrix product (gemm.hpp).
//
// Per image n: Y_n (o x oh*ow) = W (o x c*kh*kw) * col(X_n) (c*kh*kw x oh*ow) + b.
// A 1x1 convolution with stride 1 and no padding skips im2col: X_n already is col(X_n).
// The column buffer lives in the context's scratch space, so it is allocated once.
#pragma once

#include <cstdint>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/cpu/conv_algo.hpp"
#include "graft/backend/cpu/gemm.hpp"
#include "graft/backend/geometry.hpp"

namespace graft {
namespace cpu {

template <class T>
void im2col(const ConvGeometry& g, const T* x, T* col) {
  const Window2d& k = g.win;
  const int64_t rows = g.kernel_volume(), P = g.out_plane();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (k.kh * k.kw), ki = (r / k.kw) % k.kh, kj = r % k.kw;
    const T* plane = x + c * g.h * g.w;
    T* out = col + r * P;
    for (int64_t i = 0; i < g.oh; ++i) {
      const int64_t ih = i * k.sh - k.ph + ki;
      T* row = out + i * g.ow;
      if (ih < 0 || ih >= g.h) {
        for (int64_t j = 0; j < g.ow; ++j) row[j] = T(0);
        continue;
      }
      const T* src = plane + ih * g.w;
      if (k.sw == 1) {
        const int64_t off = kj - k.pw;  // iw = j + off
        for (int64_t j = 0; j < g.ow; ++j) {
          const int64_t iw = j + off;
          row[j] = (iw >= 0 && iw < g.w) ? src[iw] : T(0);
        }
      } else {
        for (int64_t j = 0; j < g.ow; ++j) {
          const int64_t iw = j * k.sw - k.pw + kj;
          row[j] = (iw >= 0 && iw < g.w) ? src[iw] : T(0);
        }
      }
    }
  }
}

// Adds the columns back into the image (the adjoint of im2col). Parallel over channels:
// each channel's rows write only that channel's plane, so there is no race.
template <class T>
void col2im(const ConvGeometry& g, const T* col, T* x) {
  const Window2d& k = g.win;
  const int64_t P = g.out_plane(), kk = int64_t(k.kh) * k.kw;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.c; ++c) {
    T* plane = x + c * g.h * g.w;
    for (int64_t p = 0; p < g.h * g.w; ++p) plane[p] = T(0);
    for (int64_t q = 0; q < kk; ++q) {
      const int64_t ki = q / k.kw, kj = q % k.kw;
      const T* in = col + (c * kk + q) * P;
      for (int64_t i = 0; i < g.oh; ++i) {
        const int64_t ih = i * k.sh - k.ph + ki;
        if (ih < 0 || ih >= g.h) continue;
        T* dst = plane + ih * g.w;
        const T* row = in + i * g.ow;
        for (int64_t j = 0; j < g.ow; ++j) {
          const int64_t iw = j * k.sw - k.pw + kj;
          if (iw >= 0 && iw < g.w) dst[iw] += row[j];
        }
      }
    }
  }
}

template <class T>
class ConvPlan {
 public:
  void setup(Context<CPU>& ctx, const ConvGeometry&) { ctx_ = &ctx; }
  // Which algorithm runs (automatic: the fastest that applies to the call's geometry).
  void set_algorithm(ConvAlgo a) { algo_ = a; }
  ConvAlgo algorithm() const { return algo_; }

  void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const int64_t K = g.kernel_volume(), P = g.out_plane();
    for (int64_t n = 0; n < g.n; ++n) {
      const T* col = columns(g, x + n * g.c * g.in_plane());
      T* yn = y + n * g.o * P;
      if (b) {
#pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < g.o; ++o)
          for (int64_t p = 0; p < P; ++p) yn[o * P + p] = b[o];
      }
      gemm<T>(false, false, g.o, P, K, T(1), w, K, col, P, b ? T(1) : T(0), yn, P);
    }
  }

  // dx = conv^T(dy): dcol = W^T dY_n, then col2im.
  void backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    const int64_t K = g.kernel_volume(), P = g.out_plane();
    for (int64_t n = 0; n < g.n; ++n) {
      T* dxn = dx + n * g.c * g.in_plane();
      const T* dyn = dy + n * g.o * P;
      if (direct(g)) {
        gemm<T>(true, false, K, P, g.o, T(1), w, K, dyn, P, T(0), dxn, P);
      } else {
        T* dcol = ctx_->scratch<T>(static_cast<size_t>(K * P));
        gemm<T>(true, false, K, P, g.o, T(1), w, K, dyn, P, T(0), dcol, P);
        col2im(g, dcol, dxn);
      }
    }
  }

  // dW = sum_n dY_n col(X_n)^T (overwrites dw).
  void backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const int64_t K = g.kernel_volume(), P = g.out_plane();
    for (int64_t n = 0; n < g.n; ++n) {
      const T* col = columns(g, x + n * g.c * g.in_plane());
      gemm<T>(false, true, g.o, K, P, T(1), dy + n * g.o * P, P, col, P, n ? T(1) : T(0), dw, K);
    }
  }

  // db[o] = sum over the batch and the plane of dy (overwrites db).
  void backward_bias(const ConvGeometry& g, const T* dy, T* db) {
    const int64_t P = g.out_plane();
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < g.o; ++o) {
      T s = T(0);
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = dy + (n * g.o + o) * P;
        for (int64_t p = 0; p < P; ++p) s += row[p];
      }
      db[o] = s;
    }
  }

 private:
  static bool direct(const ConvGeometry& g) {
    const Window2d& k = g.win;
    return k.kh == 1 && k.kw == 1 && k.sh == 1 && k.sw == 1 && k.ph == 0 && k.pw == 0;
  }
  const T* columns(const ConvGeometry& g, const T* xn) {
    if (direct(g)) return xn;
    T* col = ctx_->scratch<T>(static_cast<size_t>(g.kernel_volume() * g.out_plane()));
    im2col(g, xn, col);
    return col;
  }
  Context<CPU>* ctx_ = nullptr;
  ConvAlgo algo_ = ConvAlgo::automatic;
};

}  // namespace cpu
}  // namespace graft
