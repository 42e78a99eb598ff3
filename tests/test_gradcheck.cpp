// [gradcheck] beyond the layer cases: the loss's gradient against central finite differences,
// in double. Every layer's gradcheck is a layer case (tests/support/layer_cases.hpp), run by
// test_layer_cases.
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

[[maybe_unused]] void require_all(const test::GradReport& r, std::size_t params) {
  INFO("input gradient error " << r.input);
  CHECK(r.input < kTol);
  CHECK(r.param.size() == params);
  for (auto& kv : r.param) {
    INFO("parameter " << kv.first << " gradient error " << kv.second);
    CHECK(kv.second < kTol);
  }
}

[[maybe_unused]] void randomize_params(Layer<double, CPU>& l, uint64_t seed) {
  for (auto* p : l.params()) fill_normal(p->value, seed++, 0.5);
}
}  // namespace

// The layers' gradchecks are the layer cases (tests/support/layer_cases.hpp, test_layer_cases).

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
