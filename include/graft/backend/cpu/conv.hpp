// 2-d convolution on the host: a plan per layer that runs Winograd F(2x2, 3x3)
// (winograd.hpp) for 3x3 stride-1 kernels with enough channels, and im2col with one matrix
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
    for (ConvAlgo a : {ConvAlgo::im2col, ConvAlgo::winograd})
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
    if (algo_ == ConvAlgo::automatic)
      return winograd_applies(g) && g.c >= kWinogradMinChannels && g.o >= kWinogradMinChannels
                 ? ConvAlgo::winograd
                 : ConvAlgo::im2col;
    GRAFT_CHECK(conv_algo_applies(algo_, g), "convolution: algorithm ", conv_algo_name(algo_),
                " does not apply to a ", g.win.str(), " window");
    return algo_;
  }

  void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    if (chosen(g) == ConvAlgo::winograd) winograd_.forward(*ctx_, g, x, w, b, y);
    else im2col_.forward(*ctx_, g, x, w, b, y);
  }

  // dx = conv^T(dy) (overwrites dx).
  void backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    if (chosen(g) == ConvAlgo::winograd) winograd_.backward_data(*ctx_, g, w, dy, dx);
    else im2col_.backward_data(*ctx_, g, w, dy, dx);
  }

  // dW = sum over the batch of the correlation of x with dy (overwrites dw).
  void backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    if (chosen(g) == ConvAlgo::winograd) winograd_.backward_filter(*ctx_, g, x, dy, dw);
    else im2col_.backward_filter(*ctx_, g, x, dy, dw);
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

 private:
  Context<CPU>* ctx_ = nullptr;
  ConvAlgo algo_ = ConvAlgo::automatic;
  Im2colConv<T> im2col_;
  WinogradConv<T> winograd_;
};

}  // namespace cpu
}  // namespace graft
