// [io] Layout transforms, checked by what they mean: a graft layer with transformed weights
// computes what the caffe-tensorflow (TensorFlow, NHWC) layer computes with the file's
// weights, written out here directly from the file layout's definition.
#include <catch2/catch.hpp>

#include "graft/cpu.hpp"
#include "graft/io/layout.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using namespace graft::io;
using test::fill_normal;
using test::max_rel_error;

TEST_CASE("conv weights: HWIO -> OIHW moves every element to its place, and back", "[io]") {
  const int64_t H = 3, W = 2, I = 4, O = 5;
  Tensor<float> hwio(Shape{H, W, I, O});
  fill_normal(hwio, 1);
  const Tensor<float> oihw = hwio_to_oihw(hwio);
  REQUIRE(oihw.shape() == Shape({O, I, H, W}));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t o = 0; o < O; ++o)
          REQUIRE(oihw.at(o, i, h, w) == hwio[((h * W + w) * I + i) * O + o]);
  const Tensor<float> back = oihw_to_hwio(oihw);
  REQUIRE(back.shape() == hwio.shape());
  CHECK(std::equal(back.begin(), back.end(), hwio.begin()));
}

TEST_CASE("fc weights: (in, out) -> (out, in), and H,W,C rows -> C,H,W columns, and back", "[io]") {
  Tensor<double> io(Shape{6, 4});
  fill_normal(io, 2);
  const Tensor<double> oi = io_to_oi(io);
  REQUIRE(oi.shape() == Shape({4, 6}));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t o = 0; o < 4; ++o) REQUIRE(oi[o * 6 + i] == io[i * 4 + o]);
  const Tensor<double> io2 = oi_to_io(oi);
  CHECK(std::equal(io2.begin(), io2.end(), io.begin()));

  const int64_t C = 3, H = 2, W = 4, O = 5;
  Tensor<double> file(Shape{H * W * C, O});
  fill_normal(file, 3);
  const Tensor<double> g = fc_hwc_to_chw(file, C, H, W);
  REQUIRE(g.shape() == Shape({O, C * H * W}));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t o = 0; o < O; ++o) REQUIRE(g[o * C * H * W + (c * H + h) * W + w] == file[((h * W + w) * C + c) * O + o]);
  const Tensor<double> back = fc_chw_to_hwc(g, C, H, W);
  CHECK(std::equal(back.begin(), back.end(), file.begin()));
  CHECK_THROWS_WITH(fc_hwc_to_chw(file, 5, 2, 4), Catch::Contains("do not have 5*2*4 rows"));
}

TEST_CASE("fc6 after pool5: graft's Linear with permuted weights computes TensorFlow's NHWC flatten", "[io]") {
  // x is (n, C, H, W) for graft; TensorFlow sees the same activations as NHWC and flattens
  // them as (h, w, c), multiplying by the file's (H*W*C, out) matrix.
  const int64_t n = 2, C = 5, H = 3, W = 3, O = 4;
  Tensor<float> file(Shape{H * W * C, O}), bias(Shape{O});
  fill_normal(file, 4);
  fill_normal(bias, 5);
  Tensor<float> x(Shape{n, C, H, W}), y;
  fill_normal(x, 6);
  Context<CPU> ctx;
  Linear<float> fc("fc6", 0, O);
  fc.setup(x.shape(), ctx);
  fc.weights.value = fc_hwc_to_chw(file, C, H, W);
  copy(bias, fc.biases.value);
  fc.forward(x, y);
  Tensor<float> want(Shape{n, O});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < O; ++o) {
      double s = bias[o];
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t c = 0; c < C; ++c) s += double(x.at(b, c, h, w)) * file[((h * W + w) * C + c) * O + o];
      want[b * O + o] = float(s);
    }
  CHECK(max_rel_error(y, want) < 1e-5);
  // Without the permutation (a plain transpose) the result is wrong: the test can fail.
  fc.weights.value = io_to_oi(file);
  fc.forward(x, y);
  CHECK(max_rel_error(y, want) > 1e-2);
}

TEST_CASE("conv: graft's Conv2d with OIHW weights computes the HWIO convolution", "[io]") {
  const int64_t n = 1, C = 3, H = 6, W = 5, O = 4, K = 3;
  Tensor<float> file(Shape{K, K, C, O});
  fill_normal(file, 7);
  Tensor<float> x(Shape{n, C, H, W}), y;
  fill_normal(x, 8);
  Context<CPU> ctx;
  Conv2d<float> conv("conv1", C, O, K, 1, 1);
  conv.setup(x.shape(), ctx);
  conv.weights.value = hwio_to_oihw(file);
  conv.biases.value.fill(0.0f);
  conv.forward(x, y);
  REQUIRE(y.shape() == Shape({n, O, H, W}));
  Tensor<float> want(y.shape());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t q = 0; q < W; ++q) {
        double s = 0;
        for (int64_t kh = 0; kh < K; ++kh)
          for (int64_t kw = 0; kw < K; ++kw)
            for (int64_t c = 0; c < C; ++c) {
              const int64_t ih = r + kh - 1, iw = q + kw - 1;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              s += double(x.at(0, c, ih, iw)) * file[((kh * K + kw) * C + c) * O + o];
            }
        want.at(0, o, r, q) = float(s);
      }
  CHECK(max_rel_error(y, want) < 1e-5);
}
