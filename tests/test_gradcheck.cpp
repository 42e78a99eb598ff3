// [gradcheck]: every layer's backward against central finite differences, in double.
#include <catch2/catch.hpp>

#include "graft/cpu.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using test::fill_distinct;
using test::fill_normal;
using test::gradcheck;

namespace {
constexpr double kTol = 1e-6;  // max relative error allowed, double precision

void require_all(const test::GradReport& r, std::size_t params) {
  INFO("input gradient error " << r.input);
  CHECK(r.input < kTol);
  CHECK(r.param.size() == params);
  for (auto& kv : r.param) {
    INFO("parameter " << kv.first << " gradient error " << kv.second);
    CHECK(kv.second < kTol);
  }
}

void randomize_params(Layer<double, CPU>& l, uint64_t seed) {
  for (auto* p : l.params()) fill_normal(p->value, seed++, 0.5);
}
}  // namespace

TEST_CASE("Conv2d gradcheck: input, weights and biases", "[gradcheck]") {
  struct Case { int64_t n, c, h, w, o; Window2d win; };
  const Case cases[] = {
      {2, 3, 7, 6, 4, {3, 3, 1, 1, 1, 1, false}},   // VGG's 3x3, pad 1
      {2, 2, 9, 8, 3, {3, 2, 2, 1, 0, 1, false}},   // uneven kernel, stride and padding
      {1, 4, 5, 5, 2, {1, 1, 1, 1, 0, 0, false}},   // 1x1 (no im2col)
      {2, 3, 6, 6, 2, {5, 5, 3, 3, 2, 2, false}},   // large kernel, stride 3
  };
  for (const auto& k : cases) {
    Context<CPU> ctx;
    Conv2d<double> conv("conv_test", k.c, k.o, k.win);
    conv.setup(Shape{k.n, k.c, k.h, k.w}, ctx);
    randomize_params(conv, 11);
    Tensor<double> x(Shape{k.n, k.c, k.h, k.w});
    fill_normal(x, 3);
    INFO("window " << k.win.str());
    require_all(gradcheck(conv, x, 7), 2);
  }
}

TEST_CASE("Conv2d gradcheck without bias", "[gradcheck]") {
  Context<CPU> ctx;
  Conv2d<double> conv("conv_nobias", 3, 2, 3, 1, 1, /*bias=*/false);
  conv.setup(Shape{1, 3, 5, 4}, ctx);
  randomize_params(conv, 5);
  Tensor<double> x(Shape{1, 3, 5, 4});
  fill_normal(x, 9);
  require_all(gradcheck(conv, x, 1), 1);
}

TEST_CASE("MaxPool2d gradcheck", "[gradcheck]") {
  const Window2d wins[] = {{2, 2, 2, 2, 0, 0, false},   // VGG's pools
                           {3, 3, 2, 2, 1, 1, false},   // overlapping, padded
                           {3, 3, 2, 2, 0, 0, true}};   // Caffe's ceil mode
  for (const auto& win : wins) {
    Context<CPU> ctx;
    MaxPool2d<double> pool("pool_test", win);
    pool.setup(Shape{2, 3, 7, 6}, ctx);
    Tensor<double> x(Shape{2, 3, 7, 6});
    fill_distinct(x, 4);
    INFO("window " << win.str());
    require_all(gradcheck(pool, x, 2), 0);
  }
}

TEST_CASE("Linear gradcheck: input, weights and biases", "[gradcheck]") {
  Context<CPU> ctx;
  Linear<double> fc("fc_test", 0, 5);
  fc.setup(Shape{3, 2, 2, 3}, ctx);  // a spatial input, flattened in C,H,W order
  randomize_params(fc, 21);
  Tensor<double> x(Shape{3, 2, 2, 3});
  fill_normal(x, 8);
  require_all(gradcheck(fc, x, 3), 2);
}

TEST_CASE("ReLU gradcheck", "[gradcheck]") {
  Context<CPU> ctx;
  ReLU<double> relu("relu_test");
  relu.setup(Shape{2, 3, 4, 5}, ctx);
  Tensor<double> x(Shape{2, 3, 4, 5});
  fill_distinct(x, 6);
  require_all(gradcheck(relu, x, 4), 0);
}

TEST_CASE("Dropout gradcheck (training mode, fixed mask)", "[gradcheck]") {
  Context<CPU> ctx;
  Dropout<double> drop("drop_test", 0.5f, 1234);
  drop.setup(Shape{4, 50}, ctx);
  drop.set_training(true);
  Tensor<double> x(Shape{4, 50});
  fill_normal(x, 10);
  require_all(gradcheck(drop, x, 5, [&] { drop.set_step(3); }), 0);
}

TEST_CASE("Flatten gradcheck", "[gradcheck]") {
  Context<CPU> ctx;
  Flatten<double> flat("flatten_test");
  flat.setup(Shape{2, 3, 4, 5}, ctx);
  Tensor<double> x(Shape{2, 3, 4, 5});
  fill_normal(x, 12);
  require_all(gradcheck(flat, x, 6), 0);
}

TEST_CASE("SoftmaxCrossEntropy gradcheck of the logits", "[gradcheck]") {
  Context<CPU> ctx;
  SoftmaxCrossEntropy<double> loss;
  loss.setup(ctx);
  Tensor<double> z(Shape{5, 4});
  fill_normal(z, 13, 3.0);
  Tensor<int32_t> labels(Shape{5});
  for (int i = 0; i < 5; ++i) labels[i] = (i * 3) % 4;
  loss.forward(z, labels);
  Tensor<double> dz;
  poison(dz);
  loss.backward(labels, dz);
  Tensor<double> numeric(z.shape());
  const double eps = 1e-6;
  for (int64_t i = 0; i < z.size(); ++i) {
    const double keep = z[i];
    z[i] = keep + eps;
    const double up = loss.forward(z, labels);
    z[i] = keep - eps;
    const double down = loss.forward(z, labels);
    z[i] = keep;
    numeric[i] = (up - down) / (2 * eps);
  }
  const double err = test::grad_error(dz, numeric);
  INFO("logit gradient error " << err);
  CHECK(err < kTol);
}

TEST_CASE("Affine gradcheck: input, scale and offset, rank 2 and 4, with and without offset", "[gradcheck]") {
  const Shape shapes[] = {Shape{3, 4, 5, 3}, Shape{6, 5}};
  for (const auto& s : shapes) {
    for (bool with_offset : {true, false}) {
      INFO("input " << s.str() << (with_offset ? " with" : " without") << " offset");
      Context<CPU> ctx;
      Affine<double> aff("affine_test", 0, with_offset);
      aff.setup(s, ctx);
      randomize_params(aff, 31);
      Tensor<double> x(s);
      fill_normal(x, 32);
      require_all(gradcheck(aff, x, 33), with_offset ? 2 : 1);
    }
  }
}

namespace {
// Running statistics away from the initial (0, 1), so that evaluation mode is not the identity.
void randomize_running_stats(BatchNorm2d<double>& bn, uint64_t seed) {
  fill_normal(bn.running_mean, seed, 0.5);
  test::fill_uniform(bn.running_var, seed + 1, 0.3, 2.0);
}
}  // namespace

TEST_CASE("BatchNorm2d gradcheck in training mode (through the batch statistics)", "[gradcheck]") {
  // Several images and channels, a non-zero mean per channel, rank 4 and rank 2 (BatchNorm1d).
  // (Not two values per channel: then xhat = +-1 whatever x is, dL/dx is ~0 and the relative
  // error of the check is ill-conditioned.)
  const Shape shapes[] = {Shape{3, 4, 3, 5}, Shape{5, 3, 1, 1}, Shape{7, 5}};
  for (const auto& s : shapes) {
    INFO("input " << s.str());
    Context<CPU> ctx;
    BatchNorm2d<double> bn("bn_test", 0);
    bn.setup(s, ctx);
    randomize_params(bn, 41);
    randomize_running_stats(bn, 42);
    bn.set_training(true);
    Tensor<double> x(s);
    fill_normal(x, 43, 2.0);
    for (int64_t i = 0; i < x.size(); ++i) x[i] += 0.3 * double((i / (s.rank() == 4 ? s[2] * s[3] : 1)) % s[1]);
    require_all(gradcheck(bn, x, 44), 2);
  }
}

TEST_CASE("BatchNorm2d gradcheck in evaluation mode and with use_global_stats", "[gradcheck]") {
  for (bool global_stats_while_training : {false, true}) {
    INFO((global_stats_while_training ? "training with use_global_stats" : "evaluation mode"));
    Context<CPU> ctx;
    BatchNorm2d<double> bn("bn_eval", 0);
    bn.setup(Shape{2, 3, 4, 3}, ctx);
    randomize_params(bn, 51);
    randomize_running_stats(bn, 52);
    bn.set_training(global_stats_while_training);
    bn.set_use_global_stats(global_stats_while_training);
    Tensor<double> x(Shape{2, 3, 4, 3});
    fill_normal(x, 53, 1.5);
    require_all(gradcheck(bn, x, 54), 2);
  }
}

namespace {
void require_inputs(const test::GradReport& r, std::size_t inputs) {
  CHECK(r.param.size() == inputs);
  for (auto& kv : r.param) {
    INFO(kv.first << " gradient error " << kv.second);
    CHECK(kv.second < kTol);
  }
}
}  // namespace

TEST_CASE("Add gradcheck: two and three inputs of one shape, rank 4 and rank 2", "[gradcheck]") {
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{3, 7}}) {
    for (size_t k : {size_t(2), size_t(3)}) {
      INFO(k << " inputs of shape " << s.str());
      Context<CPU> ctx;
      Add<double> add("add_test");
      add.setup(std::vector<Shape>(k, s), ctx);
      std::vector<Tensor<double>> xs;
      for (size_t i = 0; i < k; ++i) {
        xs.emplace_back(s);
        fill_normal(xs.back(), 30 + i);
      }
      require_inputs(test::gradcheck_multi(add, xs, 31), k);
    }
  }
}

TEST_CASE("Add gradcheck with zero_pad: channels and spatial sizes that differ", "[gradcheck]") {
  struct Case { std::vector<Shape> in; Shape out; };
  const Case cases[] = {
      {{Shape{2, 4, 3, 3}, Shape{2, 2, 3, 3}}, Shape{2, 4, 3, 3}},                     // a shortcut with fewer channels
      {{Shape{2, 2, 3, 3}, Shape{2, 4, 3, 3}}, Shape{2, 4, 3, 3}},                     // ... given first
      {{Shape{1, 3, 5, 4}, Shape{1, 3, 3, 6}}, Shape{1, 3, 5, 6}},                     // each larger on one axis
      {{Shape{2, 2, 4, 4}, Shape{2, 3, 2, 4}, Shape{2, 1, 4, 5}}, Shape{2, 3, 4, 5}},  // three, all axes
      {{Shape{3, 5}, Shape{3, 2}}, Shape{3, 5}},                                       // rank 2
  };
  for (const auto& cs : cases) {
    Context<CPU> ctx;
    Add<double> add("add_pad", /*zero_pad=*/true);
    std::string ins;
    for (auto& s : cs.in) ins += s.str() + " ";
    INFO("inputs " << ins);
    CHECK(add.setup(cs.in, ctx) == cs.out);
    std::vector<Tensor<double>> xs;
    for (size_t i = 0; i < cs.in.size(); ++i) {
      xs.emplace_back(cs.in[i]);
      fill_normal(xs.back(), 40 + i);
    }
    require_inputs(test::gradcheck_multi(add, xs, 41), cs.in.size());
  }
}

TEST_CASE("AvgPool2d gradcheck: windows, padding counted or not, ceil mode", "[gradcheck]") {
  struct Case { Window2d win; bool count_pad; };
  const Case cases[] = {
      {{2, 2, 2, 2, 0, 0, false}, true},   // disjoint
      {{3, 3, 2, 2, 1, 1, false}, true},   // overlapping, padding counted
      {{3, 3, 2, 2, 1, 1, false}, false},  // ... not counted
      {{3, 3, 2, 2, 0, 0, true}, true},    // ceil mode: the last window cut by the input's edge
      {{3, 3, 2, 2, 1, 1, true}, true},    // ceil mode past the padded input, padding counted
      {{3, 3, 2, 2, 1, 1, true}, false},
      {{3, 2, 1, 2, 1, 1, false}, false},  // rectangular window, mixed stride
  };
  for (const auto& cs : cases) {
    Context<CPU> ctx;
    AvgPool2d<double> pool("avg_test", cs.win, cs.count_pad);
    pool.setup(Shape{2, 3, 7, 6}, ctx);
    Tensor<double> x(Shape{2, 3, 7, 6});
    fill_normal(x, 14);
    INFO("window " << cs.win.str() << (cs.win.ceil_mode ? " ceil" : "") << " count_pad " << cs.count_pad);
    require_all(gradcheck(pool, x, 15), 0);
  }
}

TEST_CASE("GlobalAvgPool2d gradcheck", "[gradcheck]") {
  Context<CPU> ctx;
  GlobalAvgPool2d<double> pool("gap_test");
  CHECK(pool.setup(Shape{2, 3, 5, 4}, ctx) == Shape({2, 3, 1, 1}));
  Tensor<double> x(Shape{2, 3, 5, 4});
  fill_normal(x, 16);
  require_all(gradcheck(pool, x, 17), 0);
}

TEST_CASE("AddReLU gradcheck", "[gradcheck]") {
  Context<CPU> ctx;
  AddReLU<double> layer("add_relu_test");
  const Shape s{2, 3, 4, 5};
  layer.setup(std::vector<Shape>{s, s}, ctx);
  std::vector<Tensor<double>> xs;
  xs.emplace_back(s);
  xs.emplace_back(s);
  fill_normal(xs[0], 50);
  fill_normal(xs[1], 51);
  // a finite difference of 1e-6 must not cross the kink at a + b = 0
  double nearest = INFINITY;
  int64_t positive = 0;
  for (int64_t i = 0; i < xs[0].size(); ++i) {
    nearest = std::min(nearest, std::abs(xs[0][i] + xs[1][i]));
    positive += xs[0][i] + xs[1][i] > 0;
  }
  REQUIRE(nearest > 1e-4);
  REQUIRE(positive > 10);  // both sides of the kink are exercised
  REQUIRE(positive < xs[0].size() - 10);
  require_inputs(test::gradcheck_multi(layer, xs, 52), 2);
}
