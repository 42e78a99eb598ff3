// im2col convolution on the host: any kernel, stride and padding.
//
// Per image n: Y_n (o x oh*ow) = W (o x c*kh*kw) * col(X_n) (c*kh*kw x oh*ow) + b.
// A 1x1 convolution with stride 1 and no padding skips im2col: X_n already is col(X_n).
//
// All three passes work in bands of output rows: a band's columns (a few MiB)
// stay in cache between their unfolding and their product, where a whole image's columns
// (115 MiB for VGG16's conv1_2) would go through memory twice. With at least as many images
// as threads, each thread takes whole images (band after band, one-thread products): no
// barrier per band, and a thread slowed by another process does not hold the other back.
// The column buffers live in the context's scratch space.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/cpu/gemm.hpp"
#include "graft/backend/geometry.hpp"

namespace graft {
namespace cpu {

// Columns of output rows [i0, i1) of one image: col (kernel_volume x (i1-i0)*ow), row r =
// (channel, ki, kj), one column per output pixel of the band.
template <class T>
void im2col_rows(const ConvGeometry& g, const T* x, int64_t i0, int64_t i1, T* col) {
  const Window2d& k = g.win;
  const int64_t rows = g.kernel_volume(), P = (i1 - i0) * g.ow;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (k.kh * k.kw), ki = (r / k.kw) % k.kh, kj = r % k.kw;
    const T* plane = x + c * g.h * g.w;
    T* out = col + r * P;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t ih = i * k.sh - k.ph + ki;
      T* row = out + (i - i0) * g.ow;
      if (ih < 0 || ih >= g.h) {
        for (int64_t j = 0; j < g.ow; ++j) row[j] = T(0);
        continue;
      }
      const T* src = plane + ih * g.w;
      if (k.sw == 1) {
        // iw = j + kj - pw: zeros left and right, a straight copy in between
        const int64_t off = kj - k.pw;
        const int64_t lo = std::min<int64_t>(g.ow, std::max<int64_t>(0, -off));
        const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(g.ow, g.w - off));
        for (int64_t j = 0; j < lo; ++j) row[j] = T(0);
        for (int64_t j = lo; j < hi; ++j) row[j] = src[j + off];
        for (int64_t j = hi; j < g.ow; ++j) row[j] = T(0);
      } else {
        // iw = j * sw + off: zeros where it falls outside, a strided copy in between
        const int64_t sw = k.sw, off = kj - k.pw;
        const int64_t lo = std::min<int64_t>(g.ow, off >= 0 ? 0 : (-off + sw - 1) / sw);
        const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(g.ow, g.w - off <= 0 ? 0 : (g.w - off - 1) / sw + 1));
        for (int64_t j = 0; j < lo; ++j) row[j] = T(0);
        for (int64_t j = lo; j < hi; ++j) row[j] = src[j * sw + off];
        for (int64_t j = hi; j < g.ow; ++j) row[j] = T(0);
      }
    }
  }
}

// Adds the columns of output rows [i0, i1) back into the image (the adjoint of im2col_rows).
template <class T>
void col2im_rows(const ConvGeometry& g, const T* col, int64_t i0, int64_t i1, T* x) {
  const Window2d& k = g.win;
  const int64_t P = (i1 - i0) * g.ow, kk = int64_t(k.kh) * k.kw;
  for (int64_t c = 0; c < g.c; ++c) {
    T* plane = x + c * g.h * g.w;
    for (int64_t q = 0; q < kk; ++q) {
      const int64_t ki = q / k.kw, kj = q % k.kw;
      const T* in = col + (c * kk + q) * P;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t ih = i * k.sh - k.ph + ki;
        if (ih < 0 || ih >= g.h) continue;
        T* dst = plane + ih * g.w;
        const T* row = in + (i - i0) * g.ow;
        for (int64_t j = 0; j < g.ow; ++j) {
          const int64_t iw = j * k.sw - k.pw + kj;
          if (iw >= 0 && iw < g.w) dst[iw] += row[j];
        }
      }
    }
  }
}

template <class T>
class Im2colConv {
 public:
  void forward(Context<CPU>& ctx, const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const int64_t K = g.kernel_volume(), P = g.out_plane();
    each_image_band(ctx, g, [&](int64_t n, int64_t i0, int64_t i1, T* col, bool serial) {
      const T* xn = x + n * g.c * g.in_plane();
      T* yb = y + n * g.o * P + i0 * g.ow;
      const int64_t len = (i1 - i0) * g.ow;
      if (direct(g)) col = const_cast<T*>(xn) + i0 * g.ow;  // read only
      else im2col_rows(g, xn, i0, i1, col);
      if (b)
        for (int64_t o = 0; o < g.o; ++o)
          for (int64_t p = 0; p < len; ++p) yb[o * P + p] = b[o];
      const int64_t ldb = direct(g) ? P : len;
      if (serial)
        gemm_serial<T>(false, false, g.o, len, K, T(1), w, K, col, ldb, b ? T(1) : T(0), yb, P);
      else
        gemm<T>(false, false, g.o, len, K, T(1), w, K, col, ldb, b ? T(1) : T(0), yb, P);
    });
  }

  // dx = conv^T(dy): dcol = W^T dY, then col2im.
  void backward_data(Context<CPU>& ctx, const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    const int64_t K = g.kernel_volume(), P = g.out_plane();
    each_image_band(ctx, g, [&](int64_t n, int64_t i0, int64_t i1, T* dcol, bool serial) {
      T* dxn = dx + n * g.c * g.in_plane();
      const T* dyb = dy + n * g.o * P + i0 * g.ow;
      const int64_t len = (i1 - i0) * g.ow;
      if (direct(g)) {  // dx itself is the column matrix
        T* dst = dxn + i0 * g.ow;
        if (serial) gemm_serial<T>(true, false, K, len, g.o, T(1), w, K, dyb, P, T(0), dst, P);
        else gemm<T>(true, false, K, len, g.o, T(1), w, K, dyb, P, T(0), dst, P);
        return;
      }
      if (i0 == 0)
        for (int64_t i = 0; i < g.c * g.in_plane(); ++i) dxn[i] = T(0);
      if (serial) gemm_serial<T>(true, false, K, len, g.o, T(1), w, K, dyb, P, T(0), dcol, len);
      else gemm<T>(true, false, K, len, g.o, T(1), w, K, dyb, P, T(0), dcol, len);
      col2im_rows(g, dcol, i0, i1, dxn);
    });
  }

  // dW = sum_n dY_n col(X_n)^T (overwrites dw), band by band. With whole images per thread
  // each thread sums into a dW of its own; these are added at the end.
  void backward_filter(Context<CPU>& ctx, const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const int64_t K = g.kernel_volume(), P = g.out_plane(), wsize = g.o * K;
    const int threads = Context<CPU>::threads();
    const bool per_thread = per_thread_images(g);
    if (per_thread) acc_.resize(Shape{wsize * threads});
    std::vector<char> used(size_t(threads), 0);
    each_image_band(ctx, g, [&](int64_t n, int64_t i0, int64_t i1, T* col, bool serial) {
#if defined(_OPENMP)
      const int tid = serial ? omp_get_thread_num() : 0;
#else
      const int tid = 0;
#endif
      const T* xn = x + n * g.c * g.in_plane();
      const int64_t len = (i1 - i0) * g.ow;
      const T* cols = col;
      if (direct(g)) cols = xn + i0 * g.ow;
      else im2col_rows(g, xn, i0, i1, col);
      const int64_t ldb = direct(g) ? P : len;
      T* acc = serial ? acc_.data() + wsize * tid : dw;
      const bool first = serial ? !used[size_t(tid)] : (n == 0 && i0 == 0);
      used[size_t(tid)] = 1;
      const T* dyb = dy + n * g.o * P + i0 * g.ow;
      if (serial)
        gemm_serial<T>(false, true, g.o, K, len, T(1), dyb, P, cols, ldb, first ? T(0) : T(1), acc, K);
      else
        gemm<T>(false, true, g.o, K, len, T(1), dyb, P, cols, ldb, first ? T(0) : T(1), acc, K);
    });
    if (!per_thread) return;
    bool any = false;
    for (int t = 0; t < threads; ++t) {
      if (!used[size_t(t)]) continue;
      const T* a = acc_.data() + wsize * t;
      const bool copy_only = !any;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < wsize; ++i) dw[i] = copy_only ? a[i] : dw[i] + a[i];
      any = true;
    }
  }

 private:
  static bool direct(const ConvGeometry& g) {
    const Window2d& k = g.win;
    return k.kh == 1 && k.kw == 1 && k.sh == 1 && k.sw == 1 && k.ph == 0 && k.pw == 0;
  }
  // Output rows per band: the band's columns take about 4 MiB.
  static int64_t band_rows(const ConvGeometry& g) {
    const int64_t cols = std::max<int64_t>(1, (int64_t(4) << 20) / int64_t(sizeof(T)) / g.kernel_volume());
    return std::max<int64_t>(1, std::min<int64_t>(g.oh, cols / g.ow));
  }
  // Calls f(image, i0, i1, column buffer, serial) for every band of every image, bands of
  // one image in order. With at least as many images as threads, threads take whole images
  // (serial products, each thread its own buffer); otherwise images and bands go one at a
  // time with every thread on each product. The images go to the threads in a fixed
  // (static) partition, so backward_filter's per-thread sums, and with them dW, are the same
  // from run to run for a given number of threads.
  static bool per_thread_images(const ConvGeometry& g) {
    const int threads = Context<CPU>::threads();
    return g.n >= threads && threads > 1;
  }
  template <class F>
  void each_image_band(Context<CPU>& ctx, const ConvGeometry& g, F&& f) {
    const int threads = Context<CPU>::threads();
    const int64_t rows = band_rows(g), per = g.kernel_volume() * rows * g.ow;
    if (per_thread_images(g)) {
      T* buf = ctx.scratch<T>(size_t(per * threads));
#pragma omp parallel for schedule(static)
      for (int64_t n = 0; n < g.n; ++n) {
#if defined(_OPENMP)
        T* col = buf + per * omp_get_thread_num();
#else
        T* col = buf;
#endif
        for (int64_t i0 = 0; i0 < g.oh; i0 += rows) f(n, i0, std::min(g.oh, i0 + rows), col, true);
      }
      return;
    }
    T* col = ctx.scratch<T>(size_t(per));
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t i0 = 0; i0 < g.oh; i0 += rows) f(n, i0, std::min(g.oh, i0 + rows), col, false);
  }

  Tensor<T> acc_;  // backward_filter: one dW per thread
};

}  // namespace cpu
}  // namespace graft
