// 2-d convolution on the host: a plan per layer that runs Winograd F(4x4, 3x3) or F(2x2, 3x3)
// (winograd4.hpp, winograd.hpp) for 3x3 stride-1 kernels with enough channels, and im2col with one matrix
// product (im2col.hpp) for everything else. set_algorithm forces one (conv_algo.hpp), for
// benchmarks and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/backend/cpu/context.hpp"
#include "graft/backend/cpu/conv_algo.hpp"
#include "graft/backend/cpu/im2col.hpp"
#include "graft/backend/cpu/winograd.hpp"
#include "graft/backend/cpu/winograd4.hpp"
#include "graft/backend/geometry.hpp"

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

template <class T>
class ConvPlan {
 public:
  void setup(Context<CPU>& ctx, const ConvGeometry&) { ctx_ = &ctx; }
  // Which algorithm runs (automatic: the fastest that applies to the call's geometry).
  void set_algorithm(ConvAlgo a) { algo_ = a; }
  ConvAlgo algorithm() const { return algo_; }
  // By name, for benchmarks and tests: the algorithms that apply to g, and one of them (or
  // "auto") to run from now on.
  std::vector<std::string> implementations(const ConvGeometry& g) const {
    std::vector<std::string> v;
    for (ConvAlgo a : {ConvAlgo::im2col, ConvAlgo::winograd, ConvAlgo::winograd4})
      if (conv_algo_applies(a, g)) v.push_back(conv_algo_name(a));
    return v;
  }
  void use_implementation(const std::string& name, const ConvGeometry& g, const std::string& where) {
    const ConvAlgo a = parse_conv_algo(name);
    GRAFT_CHECK(conv_algo_applies(a, g), where, ": convolution algorithm ", name, " does not apply to a ",
                g.win.str(), " window");
    algo_ = a;
  }

  // The algorithm a call with geometry g runs.
  ConvAlgo chosen(const ConvGeometry& g) const {
    if (algo_ == ConvAlgo::automatic) {
      if (!(winograd_applies(g) && g.c >= kWinogradMinChannels && g.o >= kWinogradMinChannels))
        return ConvAlgo::im2col;
      return winograd4_pays(g) ? ConvAlgo::winograd4 : ConvAlgo::winograd;
    }
    GRAFT_CHECK(conv_algo_applies(algo_, g), "convolution: algorithm ", conv_algo_name(algo_),
                " does not apply to a ", g.win.str(), " window");
    return algo_;
  }

  void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    switch (chosen(g)) {
      case ConvAlgo::winograd: winograd_.forward(*ctx_, g, x, w, b, y); break;
      case ConvAlgo::winograd4: winograd4_.forward(*ctx_, g, x, w, b, y); break;
      default: im2col_.forward(*ctx_, g, x, w, b, y);
    }
    if (relu_) {  // (the ReLU's rule: x > 0 ? x : 0, so NaN gives 0)
      const int64_t n = g.n * g.o * g.out_plane();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
    }
  }
  // ReLU applied to the forward's output (Conv2d::fuse_relu_epilogue).
  void set_relu(bool on) { relu_ = on; }
  bool relu() const { return relu_; }

  // dx = conv^T(dy) (overwrites dx).
  void backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    switch (chosen(g)) {
      case ConvAlgo::winograd: return winograd_.backward_data(*ctx_, g, w, dy, dx);
      case ConvAlgo::winograd4: return winograd4_.backward_data(*ctx_, g, w, dy, dx);
      default: return im2col_.backward_data(*ctx_, g, w, dy, dx);
    }
  }

  // dW = sum over the batch of the correlation of x with dy (overwrites dw); winograd4's is
  // F(2x2, 3x3)'s.
  void backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    if (chosen(g) == ConvAlgo::im2col) im2col_.backward_filter(*ctx_, g, x, dy, dw);
    else winograd_.backward_filter(*ctx_, g, x, dy, dw);
  }

  // db[o] = sum over the batch and the plane of dy (overwrites db).
  void backward_bias(const ConvGeometry& g, const T* dy, T* db) {
    const int64_t P = g.out_plane();
#pragma omp parallel for schedule(static) if (g.n * g.o * P >= kParallelMin)
    for (int64_t o = 0; o < g.o; ++o) {
      T s = T(0);
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = dy + (n * g.o + o) * P;
        for (int64_t p = 0; p < P; ++p) s += row[p];
      }
      db[o] = s;
    }
  }

  // Below this many input or output channels Winograd's transforms (memory-bound, ~4x the
  // data of the layer's input) cost more than the multiplies they save: measured on VGG16,
  // im2col is faster for conv1_1 (3 input channels) only; on dlib's face ResNet Winograd is
  // 1.4-1.6x faster for its 32-channel 3x3 convolutions at 35x35 (docs/benchmarks.md).
  static constexpr int64_t kWinogradMinChannels = 32;

  // F(4x4, 3x3) over F(2x2, 3x3): its products are counted on whole tiles, so a plane that is
  // not a multiple of 4 wastes some (14x14: 16 tiles of 4x4 hold 256 outputs for 196; F(2x2)'s
  // 49 hold 196). Measured on one Zen 4 core (docs/benchmarks.md), forward, against F(2x2):
  // 1.35x on 32 channels at 35x35, 1.1-1.6x at 56, 28, 8 and 7, but 0.9x at 17, 14 and 4 and
  // 0.4x at 2, where the larger transformed kernel (36 x C x O) and the waste cost more than
  // the multiplies saved. So: where F(4x4) does at least 1.6x fewer multiplies counted on whole
  // tiles, on planes of at least 7 rows and columns.
  static bool winograd4_pays(const ConvGeometry& g) {
    auto tiles = [](int64_t n, int64_t m) { return (n + m - 1) / m; };
    const double f2 = 16.0 * double(tiles(g.oh, 2) * tiles(g.ow, 2));
    const double f4 = 36.0 * double(tiles(g.oh, 4) * tiles(g.ow, 4));
    return g.oh >= 7 && g.ow >= 7 && f2 >= 1.6 * f4;
  }

 private:
  Context<CPU>* ctx_ = nullptr;
  ConvAlgo algo_ = ConvAlgo::automatic;
  bool relu_ = false;
  Im2colConv<T> im2col_;
  WinogradConv<T> winograd_;
  Winograd4Conv<T> winograd4_;
};

}  // namespace cpu
}  // namespace graft
