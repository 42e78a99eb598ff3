// [torch] beyond the layer cases (tests/support/layer_cases.hpp, test_layer_cases): the loss
// against PyTorch (CPU, float32) on random logits. Tolerance: max |graft - torch| / max |torch|
// < 1e-4 per output.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "graft/cpu.hpp"
#include "support/random_fill.hpp"
#include "support/torch_ref.hpp"

using namespace graft;
using test::fill_normal;
using test::max_rel_error;

namespace {
constexpr double kTol = 1e-4;

std::string dims(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < s.rank(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

void expect_close(const char* what, const Tensor<float>& got, const Tensor<float>& want) {
  REQUIRE(got.shape() == want.shape());
  const double err = max_rel_error(got, want);
  INFO(what << ": max relative error " << err);
  CHECK(err < kTol);
}
}  // namespace

// The layers' parity tests are the layer cases (tests/support/layer_cases.hpp, test_layer_cases).

TEST_CASE("SoftmaxCrossEntropy matches torch.nn.functional.cross_entropy", "[torch]") {
  const Shape shapes[] = {Shape{64, 2622}, Shape{64, 3}, Shape{7, 2}};
  for (const auto& s : shapes) {
    INFO("logits " << s.str());
    test::TorchRef ref;
    Context<CPU> ctx;
    SoftmaxCrossEntropy<float> loss;
    loss.setup(ctx);
    Tensor<float> z(s), dz;
    fill_normal(z, 11, 4.0);
    Tensor<int32_t> labels(Shape{s[0]});
    Rng rng(12);
    for (auto& l : labels) l = static_cast<int32_t>(rng.below(uint64_t(s[1])));
    const double l = loss.forward(z, labels);
    loss.backward(labels, dz);
    ref.put("z", z);
    ref.put("labels", labels);
    ref.run("softmax_xent", "{\"z\":" + dims(s) + "}");
    expect_close("probabilities", loss.probabilities(), ref.get<float>("p", s));
    expect_close("dlogits", dz, ref.get<float>("dz", s));
    const float want = ref.get<float>("loss", Shape{1})[0];
    CHECK(std::abs(l - want) / std::abs(want) < kTol);
  }
}
