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
