// Layers: known values, modes, and clear errors for bad shapes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "graft/cpu.hpp"
#include "support/random_fill.hpp"

using namespace graft;

TEST_CASE("Conv2d: a hand-computed 3x3 convolution with padding", "[layers]") {
  Context<CPU> ctx;
  Conv2d<float> conv("conv", 1, 1, 3, 1, 1);
  conv.setup(Shape{1, 1, 3, 3}, ctx);
  conv.weights.value.fill(1.0f);
  conv.biases.value.fill(0.5f);
  Tensor<float> x(Shape{1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x[i] = float(i + 1);  // 1..9
  Tensor<float> y;
  conv.forward(x, y);
  // sums of 3x3 neighbourhoods (zero padding) + 0.5
  const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) CHECK(y[i] == Approx(want[i] + 0.5f));
}

TEST_CASE("Conv2d: bad inputs give errors naming the layer and shapes", "[layers]") {
  Context<CPU> ctx;
  Conv2d<float> conv("conv1_1", 3, 64, 3, 1, 1);
  CHECK_THROWS_WITH(conv.setup(Shape{8, 4, 224, 224}, ctx),
                    Catch::Contains("conv1_1 (Conv2d)") && Catch::Contains("3 channels") &&
                        Catch::Contains("(8, 4, 224, 224)"));
  Conv2d<float> big("conv_big", 3, 8, 5, 1, 0);
  CHECK_THROWS_WITH(big.setup(Shape{1, 3, 4, 4}, ctx),
                    Catch::Contains("conv_big (Conv2d)") && Catch::Contains("smaller than the 5x5 kernel"));
  CHECK_THROWS_WITH(conv.setup(Shape{3, 224, 224}, ctx), Catch::Contains("expected an NCHW input"));
  conv.setup(Shape{2, 3, 8, 8}, ctx);
  Tensor<float> x(Shape{2, 3, 9, 8}, 1.0f), y;
  conv.forward(x, y);  // another spatial size is fine for a convolution
  CHECK(y.shape() == Shape({2, 64, 9, 8}));
  Tensor<float> wrong(Shape{2, 5, 8, 8}, 1.0f);
  CHECK_THROWS_WITH(conv.forward(wrong, y), Catch::Contains("3 channels"));
  CHECK_THROWS_WITH(Conv2d<float>("c", 3, 0, 3), Catch::Contains("output channel"));
}

TEST_CASE("MaxPool2d: values, ceil mode and errors", "[layers]") {
  Context<CPU> ctx;
  MaxPool2d<float> pool("pool1", 2, 2);
  pool.setup(Shape{1, 1, 4, 4}, ctx);
  Tensor<float> x(Shape{1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) x[i] = float((i * 7) % 16);
  Tensor<float> y;
  pool.forward(x, y);
  CHECK(y.shape() == Shape({1, 1, 2, 2}));
  CHECK(y[0] == 12);  // max of {0, 7, 12, 3}
  CHECK(y[3] == 13);  // max of {6, 13, 2, 9}
  MaxPool2d<float> ceil_pool("pool_ceil", 3, 2, 0, true);
  CHECK(ceil_pool.setup(Shape{1, 2, 6, 6}, ctx) == Shape({1, 2, 3, 3}));  // floor mode: 2x2
  MaxPool2d<float> floor_pool("pool_floor", 3, 2);
  CHECK(floor_pool.setup(Shape{1, 2, 6, 6}, ctx) == Shape({1, 2, 2, 2}));
  CHECK_THROWS_WITH(pool.setup(Shape{1, 1, 1, 1}, ctx),
                    Catch::Contains("pool1 (MaxPool2d)") && Catch::Contains("smaller than the 2x2 window"));
}

// The first maximum of each window in row-major order, NaN winning (the CPU backend's rule),
// written out plainly: the reference for the backend's fast path over windows inside the input.
// Returns its index in the plane (n, c).
static int64_t naive_max_arg(const Tensor<float>& x, int64_t n, int64_t c, int64_t i, int64_t j, const Window2d& k) {
  const int64_t h = x.shape()[2], w = x.shape()[3];
  const float* p = x.data() + (n * x.shape()[1] + c) * h * w;
  int64_t best = -1;
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t r = std::max<int64_t>(0, i * k.sh - k.ph); r < std::min<int64_t>(h, i * k.sh - k.ph + k.kh); ++r)
    for (int64_t q = std::max<int64_t>(0, j * k.sw - k.pw); q < std::min<int64_t>(w, j * k.sw - k.pw + k.kw); ++q) {
      if (best < 0) best = r * w + q;
      const float v = p[r * w + q];
      if (std::isnan(v)) return r * w + q;
      if (v > m) {
        m = v;
        best = r * w + q;
      }
    }
  return best;
}

TEST_CASE("MaxPool2d: the first maximum of every window, NaN winning, bit for bit", "[layers]") {
  // values with ties, signed zeros, infinities and NaNs of two payloads
  const float nan1 = std::numeric_limits<float>::quiet_NaN(), nan2 = -std::numeric_limits<float>::quiet_NaN();
  const float values[] = {-1.0f, 0.0f, -0.0f, 1.0f, 2.0f, 2.0f, -std::numeric_limits<float>::infinity(), 0.5f, nan1, nan2};
  struct Case {
    int64_t h, w;
    int k, s, p;
    bool ceil;
  };
  const Case cases[] = {{72, 72, 3, 2, 0, false},  // dlib's pool1
                        {9, 11, 3, 2, 1, false},  {8, 8, 2, 2, 0, false}, {7, 9, 3, 1, 1, false},
                        {10, 13, 3, 2, 0, true},  {6, 5, 3, 3, 1, true},  {5, 5, 5, 1, 2, false},
                        {4, 17, 2, 1, 0, false}};
  Rng rng(77);
  for (const Case& cs : cases) {
    for (int nan_rate : {0, 50}) {  // without NaNs (the fast path everywhere), with some
      Context<CPU> ctx;
      MaxPool2d<float> pool("pool", cs.k, cs.s, cs.p, cs.ceil);
      const Shape ys = pool.setup(Shape{2, 3, cs.h, cs.w}, ctx);
      Tensor<float> x(Shape{2, 3, cs.h, cs.w}), y;
      for (auto& v : x) {
        const uint64_t r = rng.below(100);
        v = nan_rate && r < 2 ? values[8 + r] : values[rng.below(8)];
      }
      pool.forward(x, y);
      REQUIRE(y.shape() == ys);
      const Window2d& k = pool.window();
      int64_t bad = 0;
      for (int64_t n = 0; n < ys[0]; ++n)
        for (int64_t c = 0; c < ys[1]; ++c)
          for (int64_t i = 0; i < ys[2]; ++i)
            for (int64_t j = 0; j < ys[3]; ++j) {
              const int64_t plane = (n * ys[1] + c) * cs.h * cs.w;
              const float want = x.data()[plane + naive_max_arg(x, n, c, i, j, k)];
              const float got = y.data()[((n * ys[1] + c) * ys[2] + i) * ys[3] + j];
              if (std::memcmp(&want, &got, sizeof(float)) != 0) ++bad;
            }
      INFO(cs.h << "x" << cs.w << " window " << k.str() << (nan_rate ? " with NaNs" : ""));
      CHECK(bad == 0);
      // backward: dy sent to each window's first maximum, the windows visited in row-major
      // order (so overlapping windows' sums round the same way), bit for bit
      Tensor<float> dy(ys), dx(x.shape(), std::numeric_limits<float>::quiet_NaN());
      for (auto& v : dy) v = float(rng.uniform() - 0.5);
      Tensor<float> want_dx(x.shape(), 0.0f);
      for (int64_t n = 0; n < ys[0]; ++n)
        for (int64_t c = 0; c < ys[1]; ++c)
          for (int64_t i = 0; i < ys[2]; ++i)
            for (int64_t j = 0; j < ys[3]; ++j)
              want_dx.data()[(n * ys[1] + c) * cs.h * cs.w + naive_max_arg(x, n, c, i, j, k)] +=
                  dy.data()[((n * ys[1] + c) * ys[2] + i) * ys[3] + j];
      pool.backward(x, y, dy, &dx);
      CHECK(std::memcmp(dx.data(), want_dx.data(), size_t(dx.size()) * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("Linear: flattening, errors", "[layers]") {
  Context<CPU> ctx;
  Linear<float> fc("fc6", 512 * 7 * 7, 16);
  CHECK(fc.setup(Shape{2, 512, 7, 7}, ctx) == Shape({2, 16}));
  CHECK_THROWS_WITH(fc.setup(Shape{2, 512, 6, 6}, ctx),
                    Catch::Contains("fc6 (Linear)") && Catch::Contains("expected 25088") &&
                        Catch::Contains("got 18432") && Catch::Contains("(2, 512, 6, 6)"));
  Linear<float> small("fc", 3, 2);
  small.setup(Shape{1, 3}, ctx);
  small.weights.value[0] = 1; small.weights.value[1] = 2; small.weights.value[2] = 3;
  small.weights.value[3] = -1; small.weights.value[4] = 0; small.weights.value[5] = 1;
  small.biases.value[0] = 0.5f; small.biases.value[1] = -0.5f;
  Tensor<float> x(Shape{1, 3}), y;
  x[0] = 1; x[1] = 2; x[2] = 3;
  small.forward(x, y);
  CHECK(y[0] == Approx(14.5f));
  CHECK(y[1] == Approx(1.5f));
}

TEST_CASE("Dropout: identity in eval, seeded mask in training, mean preserved", "[layers]") {
  Context<CPU> ctx;
  Dropout<float> drop("drop6", 0.5f, 99);
  drop.setup(Shape{100, 1000}, ctx);
  Tensor<float> x(Shape{100, 1000}, 1.0f), y, y2;
  drop.forward(x, y);
  for (float v : y) REQUIRE(v == 1.0f);
  drop.set_training(true);
  drop.forward(x, y);
  double kept = 0, sum = 0;
  for (float v : y) {
    REQUIRE((v == 0.0f || v == 2.0f));
    kept += v != 0;
    sum += v;
  }
  CHECK(std::abs(kept / y.size() - 0.5) < 0.01);
  CHECK(std::abs(sum / y.size() - 1.0) < 0.02);
  drop.forward(x, y2);  // the next step draws another mask
  int differ = 0;
  for (int64_t i = 0; i < y.size(); ++i) differ += y[i] != y2[i];
  CHECK(differ > 1000);
  drop.set_step(0);
  drop.forward(x, y2);  // replaying step 0 gives the first mask again
  for (int64_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == y2[i]);
  CHECK_THROWS_WITH(Dropout<float>("d", 1.0f), Catch::Contains("[0, 1)"));
}

TEST_CASE("SoftmaxCrossEntropy: stable on huge logits, label checks", "[layers]") {
  Context<CPU> ctx;
  SoftmaxCrossEntropy<float> loss;
  loss.setup(ctx);
  Tensor<float> z(Shape{2, 3});
  z[0] = 1000; z[1] = 0; z[2] = -1000;
  z[3] = 1; z[4] = 2; z[5] = 3;
  Tensor<int32_t> labels(Shape{2});
  labels[0] = 0; labels[1] = 2;
  double l = loss.forward(z, labels);
  const double row2 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  CHECK(std::isfinite(l));
  CHECK(l == Approx(row2 / 2).epsilon(1e-5));
  CHECK(loss.probabilities()[0] == Approx(1.0f));
  labels[1] = 3;
  CHECK_THROWS_WITH(loss.forward(z, labels), Catch::Contains("label at index 1") && Catch::Contains("[0, 3)"));
  Tensor<int32_t> few(Shape{1});
  CHECK_THROWS_WITH(loss.forward(z, few), Catch::Contains("1 labels for a batch of 2"));
}

TEST_CASE("AvgPool2d and GlobalAvgPool2d: values, divisors and errors", "[layers]") {
  Context<CPU> ctx;
  // 1..16 in a 4x4 plane; 2x2/2 means by hand
  Tensor<float> x(Shape{1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) x[i] = float(i + 1);
  AvgPool2d<float> pool("pool_a", 2, 2);
  pool.setup(x.shape(), ctx);
  Tensor<float> y;
  pool.forward(x, y);
  REQUIRE(y.shape() == Shape({1, 1, 2, 2}));
  CHECK(y[0] == (1 + 2 + 5 + 6) / 4.0f);
  CHECK(y[3] == (11 + 12 + 15 + 16) / 4.0f);
  // 3x3/1 pad 1: the corner window holds 1, 2, 5, 6 and 5 padding zeros
  AvgPool2d<float> with_pad("pool_b", 3, 1, 1, false, true), without("pool_c", 3, 1, 1, false, false);
  with_pad.setup(x.shape(), ctx);
  without.setup(x.shape(), ctx);
  Tensor<float> a, b;
  with_pad.forward(x, a);
  without.forward(x, b);
  CHECK(a[0] == 14.0f / 9.0f);
  CHECK(b[0] == 14.0f / 4.0f);
  CHECK_THROWS_WITH(AvgPool2d<float>("pool_d", 2, 2, 2), Catch::Contains("pool_d (AvgPool2d)") &&
                                                             Catch::Contains("at most half the kernel"));
  // ceil mode without padding, stride above the kernel: the last window would start past the
  // input (5 -> 3 outputs, the third at 6)
  AvgPool2d<float> past("pool_e", 1, 3, 0, true);
  CHECK_THROWS_WITH(past.setup(Shape{1, 1, 5, 5}, ctx), Catch::Contains("pool_e (AvgPool2d)") &&
                                                            Catch::Contains("starts past the input"));
  GlobalAvgPool2d<float> gap("gap");
  CHECK(gap.setup(Shape{2, 3, 4, 4}, ctx) == Shape({2, 3, 1, 1}));
  Tensor<float> x2(Shape{2, 3, 4, 4}), g;
  test::fill_normal(x2, 3);
  gap.forward(x2, g);
  double s = 0;
  for (int q = 0; q < 16; ++q) s += x2[5 * 16 + q];
  CHECK(std::abs(g[5] - s / 16) < 1e-6);
  CHECK_THROWS_WITH(gap.forward(Tensor<float>(Shape{2, 3, 5, 4}), g), Catch::Contains("gap (GlobalAvgPool2d)"));
  CHECK_THROWS_WITH(gap.setup(Shape{2, 12}, ctx), Catch::Contains("expected an NCHW input"));
}

TEST_CASE("Add: single-input forms refuse, shape errors name the input and both shapes", "[layers]") {
  Context<CPU> ctx;
  Add<float> add("res");
  CHECK(add.arity() == Layer<float, CPU>::kAnyArity);
  CHECK_THROWS_WITH(add.setup(Shape{2, 3}, ctx), Catch::Contains("res (Add)") && Catch::Contains("two or more"));
  CHECK_THROWS_WITH(add.setup(std::vector<Shape>{Shape{2, 3, 4, 4}, Shape{2, 3, 4, 4}, Shape{2, 2, 4, 4}}, ctx),
                    Catch::Contains("res (Add): input 2 has shape (2, 2, 4, 4), expected (2, 3, 4, 4)"));
  Add<float> pad("res_pad", true);
  CHECK(pad.setup(std::vector<Shape>{Shape{2, 3, 4, 4}, Shape{2, 5, 2, 6}}, ctx) == Shape({2, 5, 4, 6}));
  CHECK_THROWS_WITH(pad.setup(std::vector<Shape>{Shape{2, 3, 4, 4}, Shape{3, 3, 4, 4}}, ctx),
                    Catch::Contains("res_pad (Add): input 1 has shape (3, 3, 4, 4)") && Catch::Contains("batch 2"));
  // forward with a batch that the inputs do not share
  Add<float> same("res2");
  same.setup(std::vector<Shape>{Shape{1, 4}, Shape{1, 4}}, ctx);
  Tensor<float> p(Shape{2, 4}, 1.0f), q(Shape{3, 4}, 2.0f), y;
  CHECK_THROWS_WITH(same.forward_multi({&p, &q}, y), Catch::Contains("res2 (Add): input 1 has shape (3, 4)"));
  Tensor<float> q2(Shape{2, 4}, 2.0f);
  same.forward_multi({&p, &q2}, y);
  CHECK(y[7] == 3.0f);
}
