// [gradcheck] beyond the layer cases: the loss's gradient and AddReLU's (its inputs are drawn
// away from the kink at a + b = 0) against central finite differences, in double. Every other
// layer's gradcheck is a layer case (tests/support/layer_cases.hpp), run by test_layer_cases.
#include <catch2/catch.hpp>

#include "graft/cpu.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using test::fill_normal;

namespace {
constexpr double kTol = 1e-6;  // max relative error allowed, double precision
}  // namespace

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
