// Max pooling on the host. Padding counts as -infinity; the gradient goes to the first
// maximum of each window in row-major order (PyTorch's and cuDNN's rule), recomputed from
// x in backward rather than stored.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/geometry.hpp"

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

template <class T>
class PoolPlan {
 public:
  void setup(Context<CPU>&, const ConvGeometry&) {}

  void forward(const ConvGeometry& g, const T* x, T* y) {
    each_window(g, x, [&](int64_t plane, int64_t out, int64_t arg) { y[plane * g.out_plane() + out] = x[plane * g.in_plane() + arg]; });
  }

  void backward(const ConvGeometry& g, const T* x, const T* /*y*/, const T* dy, T* dx) {
    const int64_t planes = g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * g.in_plane() >= kParallelMin)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* d = dx + pl * g.in_plane();
      for (int64_t i = 0; i < g.in_plane(); ++i) d[i] = T(0);
      const T* xp = x + pl * g.in_plane();
      const T* dyp = dy + pl * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i)
        for (int64_t j = 0; j < g.ow; ++j) d[argmax(g, xp, i, j)] += dyp[i * g.ow + j];
    }
  }

 private:
  // Index in the plane of the first maximum of output (i, j)'s window (NaN wins, as in PyTorch).
  static int64_t argmax(const ConvGeometry& g, const T* xp, int64_t i, int64_t j) {
    const Window2d& k = g.win;
    int64_t h0 = i * k.sh - k.ph, w0 = j * k.sw - k.pw;
    int64_t h1 = std::min<int64_t>(h0 + k.kh, g.h), w1 = std::min<int64_t>(w0 + k.kw, g.w);
    h0 = std::max<int64_t>(h0, 0);
    w0 = std::max<int64_t>(w0, 0);
    int64_t best = h0 * g.w + w0;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        T v = xp[h * g.w + w];
        if (v > m || v != v) {
          m = v;
          best = h * g.w + w;
          if (v != v) return best;
        }
      }
    return best;
  }
  template <class F>
  static void each_window(const ConvGeometry& g, const T* x, F&& f) {
    const int64_t planes = g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * g.in_plane() >= kParallelMin)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = x + pl * g.in_plane();
      for (int64_t i = 0; i < g.oh; ++i)
        for (int64_t j = 0; j < g.ow; ++j) f(pl, i * g.ow + j, argmax(g, xp, i, j));
    }
  }
};

}  // namespace cpu
}  // namespace graft
