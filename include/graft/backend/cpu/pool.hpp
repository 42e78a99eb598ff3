// Pooling on the host: one window loop (pool_forward / pool_backward) templated on what a
// window reduces to, so that max and average pooling share the walk over planes, windows and
// their clipped bounds and differ only in the reduction:
//   MaxReduce  the first maximum of the window in row-major order (padding is -infinity, a
//              NaN wins, PyTorch's and cuDNN's rule); backward sends dy there, the argmax
//              recomputed from x rather than stored.
//   AvgReduce  the window's sum over its divisor (PoolMode: padding counted or not); backward
//              adds dy / divisor to every input element of the window.
// Backward zeroes each input plane, then visits the windows in row-major order, so the sums
// of overlapping windows come out in one fixed order (the CUDA kernels' too).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/geometry.hpp"

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

// Output (i, j)'s window clipped to the input: rows [h0, h1), columns [w0, w1); `padded` is
// the number of elements of the window clipped to the padded input instead (PyTorch's
// count_include_pad divisor).
struct PoolSpan {
  int64_t h0, h1, w0, w1, padded;
  int64_t count() const { return (h1 - h0) * (w1 - w0); }
};
inline PoolSpan pool_span(const ConvGeometry& g, int64_t i, int64_t j) {
  const Window2d& k = g.win;
  PoolSpan s;
  s.h0 = i * k.sh - k.ph;
  s.w0 = j * k.sw - k.pw;
  const int64_t ph1 = std::min<int64_t>(s.h0 + k.kh, g.h + k.ph), pw1 = std::min<int64_t>(s.w0 + k.kw, g.w + k.pw);
  s.padded = (ph1 - s.h0) * (pw1 - s.w0);
  s.h1 = std::min<int64_t>(ph1, g.h);
  s.w1 = std::min<int64_t>(pw1, g.w);
  s.h0 = std::max<int64_t>(s.h0, 0);
  s.w0 = std::max<int64_t>(s.w0, 0);
  return s;
}

template <class T>
struct MaxReduce {
  // Index in the plane of the first maximum (NaN wins, as in PyTorch).
  static int64_t argmax(const PoolSpan& s, const T* xp, int64_t w) {
    int64_t best = s.h0 * w + s.w0;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t c = s.w0; c < s.w1; ++c) {
        const T v = xp[h * w + c];
        if (v > m || v != v) {
          m = v;
          best = h * w + c;
          if (v != v) return best;
        }
      }
    return best;
  }
  T forward(const PoolSpan& s, const T* xp, int64_t w) const { return xp[argmax(s, xp, w)]; }
  void backward(const PoolSpan& s, const T* xp, int64_t w, T dy, T* dxp) const { dxp[argmax(s, xp, w)] += dy; }
};

template <class T>
struct AvgReduce {
  bool count_pad = true;
  T divisor(const PoolSpan& s) const { return T(count_pad ? s.padded : s.count()); }
  T forward(const PoolSpan& s, const T* xp, int64_t w) const {
    T sum = T(0);
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t c = s.w0; c < s.w1; ++c) sum += xp[h * w + c];
    return sum / divisor(s);
  }
  void backward(const PoolSpan& s, const T* /*xp*/, int64_t w, T dy, T* dxp) const {
    const T g = dy / divisor(s);
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t c = s.w0; c < s.w1; ++c) dxp[h * w + c] += g;
  }
};

// Max pooling of output row i's columns [j0, j1), whose windows lie inside the input (no
// clipping): the window's elements in row-major order, each replacing the maximum only when
// greater (the first maximum, as MaxReduce), over the whole run of outputs at once
// (vectorisable). A window holding a NaN is redone by MaxReduce (its first NaN wins). With
// `arg` (backward) each window's argmax, an index into the plane, is kept as well.
template <class T>
void max_pool_row_inside(const ConvGeometry& g, const T* xp, int64_t i, int64_t j0, int64_t j1, T* yrow,
                         unsigned char* nan, int64_t* arg = nullptr) {
  const Window2d& k = g.win;
  const int64_t sw = k.sw;
  const int64_t first = (i * k.sh - k.ph) * g.w - k.pw;  // plane index of window j = 0's first element
  const T* base = xp + first;
  for (int64_t j = j0; j < j1; ++j) {
    const T v = base[j * sw];
    yrow[j] = v;
    nan[j] = v != v;
    if (arg) arg[j] = first + j * sw;
  }
  for (int64_t dh = 0; dh < k.kh; ++dh)
    for (int64_t dw = dh == 0 ? 1 : 0; dw < k.kw; ++dw) {
      const T* src = base + dh * g.w + dw;
      if (arg) {
        const int64_t off = first + dh * g.w + dw;
        for (int64_t j = j0; j < j1; ++j) {
          const T v = src[j * sw], m = yrow[j];
          const bool gt = v > m;
          yrow[j] = gt ? v : m;
          arg[j] = gt ? off + j * sw : arg[j];
          nan[j] |= static_cast<unsigned char>(v != v);
        }
        continue;
      }
      for (int64_t j = j0; j < j1; ++j) {
        const T v = src[j * sw], m = yrow[j];
        yrow[j] = v > m ? v : m;
        nan[j] |= static_cast<unsigned char>(v != v);
      }
    }
  for (int64_t j = j0; j < j1; ++j)
    if (nan[j]) {
      const int64_t at = MaxReduce<T>::argmax(pool_span(g, i, j), xp, g.w);
      yrow[j] = xp[at];
      if (arg) arg[j] = at;
    }
}

// The output columns [ja, jb) and rows [ia, ib) whose windows lie inside the input.
struct InsideWindows {
  int64_t ia, ib, ja, jb;
  explicit InsideWindows(const ConvGeometry& g) {
    const Window2d& k = g.win;
    auto end = [](int64_t n, int64_t p, int64_t kk, int64_t st) { return n + p < kk ? 0 : (n + p - kk) / st + 1; };
    ja = std::min<int64_t>(g.ow, (k.pw + k.sw - 1) / k.sw);
    jb = std::max<int64_t>(ja, std::min<int64_t>(g.ow, end(g.w, k.pw, k.kw, k.sw)));
    ia = std::min<int64_t>(g.oh, (k.ph + k.sh - 1) / k.sh);
    ib = std::max<int64_t>(ia, std::min<int64_t>(g.oh, end(g.h, k.ph, k.kh, k.sh)));
  }
  bool row(int64_t i) const { return i >= ia && i < ib && jb > ja; }
};

// y[plane, i, j] = reduce(window (i, j) of x's plane), every plane in parallel. Max pooling
// takes max_pool_row_inside for the windows inside the input (all of them without padding
// and ceil mode), the same maximum as MaxReduce without a span and a branch per element.
template <class T, class R>
void pool_forward(const ConvGeometry& g, const T* x, T* y, const R& r) {
  const int64_t planes = g.n * g.c;
  constexpr bool is_max = std::is_same<R, MaxReduce<T>>::value;
  const InsideWindows in(g);
#pragma omp parallel if (planes * g.in_plane() >= kParallelMin)
  {
    std::vector<unsigned char> nan(is_max ? size_t(g.ow) : 0);
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = x + pl * g.in_plane();
      T* yp = y + pl * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        T* yrow = yp + i * g.ow;
        if (is_max && in.row(i)) {
          for (int64_t j = 0; j < in.ja; ++j) yrow[j] = r.forward(pool_span(g, i, j), xp, g.w);
          max_pool_row_inside(g, xp, i, in.ja, in.jb, yrow, nan.data());
          for (int64_t j = in.jb; j < g.ow; ++j) yrow[j] = r.forward(pool_span(g, i, j), xp, g.w);
          continue;
        }
        for (int64_t j = 0; j < g.ow; ++j) yrow[j] = r.forward(pool_span(g, i, j), xp, g.w);
      }
    }
  }
}

template <class T, class R>
void pool_backward(const ConvGeometry& g, const T* x, const T* dy, T* dx, const R& r) {
  const int64_t planes = g.n * g.c;
  constexpr bool is_max = std::is_same<R, MaxReduce<T>>::value;
  const InsideWindows in(g);
#pragma omp parallel if (planes * g.in_plane() >= kParallelMin)
  {
    // max: the argmaxes of a row's inside windows found as the forward finds its maxima
    // (vectorised), then dy sent to them in the same row-major order as the window walk.
    std::vector<unsigned char> nan(is_max ? size_t(g.ow) : 0);
    std::vector<T> m(is_max ? size_t(g.ow) : 0);
    std::vector<int64_t> arg(is_max ? size_t(g.ow) : 0);
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* d = dx + pl * g.in_plane();
      for (int64_t i = 0; i < g.in_plane(); ++i) d[i] = T(0);
      const T* xp = x + pl * g.in_plane();
      const T* dyp = dy + pl * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        const T* dyrow = dyp + i * g.ow;
        if (is_max && in.row(i)) {
          max_pool_row_inside(g, xp, i, in.ja, in.jb, m.data(), nan.data(), arg.data());
          for (int64_t j = 0; j < in.ja; ++j) r.backward(pool_span(g, i, j), xp, g.w, dyrow[j], d);
          for (int64_t j = in.ja; j < in.jb; ++j) d[arg[size_t(j)]] += dyrow[j];
          for (int64_t j = in.jb; j < g.ow; ++j) r.backward(pool_span(g, i, j), xp, g.w, dyrow[j], d);
          continue;
        }
        for (int64_t j = 0; j < g.ow; ++j) r.backward(pool_span(g, i, j), xp, g.w, dyrow[j], d);
      }
    }
  }
}

// A pooling layer's plan: the reduction is chosen once (set_mode, before use; max by default).
template <class T>
class PoolPlan {
 public:
  void set_mode(PoolMode m) { mode_ = m; }
  PoolMode mode() const { return mode_; }
  void setup(Context<CPU>&, const ConvGeometry&) {}
  // One implementation on the host (the benchmarks ask).
  std::vector<std::string> implementations(const ConvGeometry&) const { return {"graft"}; }
  void use_implementation(const std::string& name, const ConvGeometry&, const std::string& where) {
    GRAFT_CHECK(name == "auto" || name == "graft", where, ": unknown pooling implementation '", name,
                "' (the host has: auto, graft)");
  }

  void forward(const ConvGeometry& g, const T* x, T* y) {
    if (mode_ == PoolMode::Max) return pool_forward(g, x, y, MaxReduce<T>{});
    pool_forward(g, x, y, AvgReduce<T>{mode_ == PoolMode::AvgCountPad});
  }
  void backward(const ConvGeometry& g, const T* x, const T* /*y*/, const T* dy, T* dx) {
    if (mode_ == PoolMode::Max) return pool_backward(g, x, dy, dx, MaxReduce<T>{});
    pool_backward(g, x, dy, dx, AvgReduce<T>{mode_ == PoolMode::AvgCountPad});
  }

 private:
  PoolMode mode_ = PoolMode::Max;
};

}  // namespace cpu
}  // namespace graft
