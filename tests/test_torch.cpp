// [torch]: forward and backward against PyTorch (CPU, float32) on random inputs of
// VGG-like shapes. Tolerance: max |graft - torch| / max |torch| < 1e-4 per output.
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

TEST_CASE("Conv2d matches torch.nn.functional.conv2d (forward, dx, dw, db)", "[torch]") {
  struct Case { Shape x; int64_t o; int k, s, p; };
  const Case cases[] = {
      {Shape{2, 64, 56, 56}, 128, 3, 1, 1},  // conv3_1-like
      {Shape{2, 3, 64, 64}, 64, 3, 1, 1},    // conv1_1 on a small image
      {Shape{2, 512, 14, 14}, 512, 3, 1, 1}, // conv5_x
      {Shape{3, 16, 15, 17}, 8, 5, 2, 2},    // odd sizes, stride 2
  };
  for (const auto& k : cases) {
    INFO("input " << k.x.str() << " -> " << k.o << " kernel " << k.k);
    test::TorchRef ref;
    Context<CPU> ctx;
    Conv2d<float> conv("conv", k.x[1], k.o, k.k, k.s, k.p);
    conv.setup(k.x, ctx);
    Tensor<float> x(k.x), y, dx;
    fill_normal(x, 1);
    fill_normal(conv.weights.value, 2, 0.05);
    fill_normal(conv.biases.value, 3, 0.5);
    conv.forward(x, y);
    Tensor<float> dy(y.shape());
    fill_normal(dy, 4);
    conv.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("w", conv.weights.value);
    ref.put("b", conv.biases.value);
    ref.put("dy", dy);
    ref.run("conv2d", "{\"x\":" + dims(k.x) + ",\"w\":" + dims(conv.weights.value.shape()) +
                          ",\"stride\":" + std::to_string(k.s) + ",\"pad\":" + std::to_string(k.p) + "}");
    expect_close("y", y, ref.get<float>("y", y.shape()));
    expect_close("dx", dx, ref.get<float>("dx", x.shape()));
    expect_close("dw", conv.weights.grad, ref.get<float>("dw", conv.weights.value.shape()));
    expect_close("db", conv.biases.grad, ref.get<float>("db", conv.biases.value.shape()));
  }
}

TEST_CASE("MaxPool2d matches torch.nn.functional.max_pool2d (forward, dx)", "[torch]") {
  struct Case { Shape x; int k, s, p; bool ceil; };
  const Case cases[] = {{Shape{4, 64, 112, 112}, 2, 2, 0, false},
                        {Shape{2, 512, 14, 14}, 2, 2, 0, false},
                        {Shape{2, 8, 13, 11}, 3, 2, 1, false},
                        {Shape{2, 8, 13, 11}, 3, 2, 0, true}};
  for (const auto& k : cases) {
    INFO("input " << k.x.str() << " window " << k.k << " stride " << k.s);
    test::TorchRef ref;
    Context<CPU> ctx;
    MaxPool2d<float> pool("pool", k.k, k.s, k.p, k.ceil);
    pool.setup(k.x, ctx);
    Tensor<float> x(k.x), y, dx;
    fill_normal(x, 5);
    pool.forward(x, y);
    Tensor<float> dy(y.shape());
    fill_normal(dy, 6);
    pool.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("dy", dy);
    ref.run("max_pool2d", "{\"x\":" + dims(k.x) + ",\"kernel\":" + std::to_string(k.k) +
                              ",\"stride\":" + std::to_string(k.s) + ",\"pad\":" + std::to_string(k.p) +
                              ",\"ceil\":" + (k.ceil ? "true" : "false") + "}");
    expect_close("y", y, ref.get<float>("y", y.shape()));
    expect_close("dx", dx, ref.get<float>("dx", x.shape()));
  }
}

TEST_CASE("Linear matches torch.nn.functional.linear (forward, dx, dw, db)", "[torch]") {
  struct Case { Shape x; int64_t out; };
  const Case cases[] = {{Shape{4, 512, 7, 7}, 256},  // fc6 after pool5 (flattened C,H,W)
                        {Shape{8, 4096}, 1024},      // fc7-like
                        {Shape{8, 4096}, 3}};        // a new gender head
  for (const auto& k : cases) {
    INFO("input " << k.x.str() << " -> " << k.out);
    test::TorchRef ref;
    Context<CPU> ctx;
    Linear<float> fc("fc", 0, k.out);
    fc.setup(k.x, ctx);
    Tensor<float> x(k.x), y, dx;
    fill_normal(x, 7);
    fill_normal(fc.weights.value, 8, 0.02);
    fill_normal(fc.biases.value, 9, 0.5);
    fc.forward(x, y);
    Tensor<float> dy(y.shape());
    fill_normal(dy, 10);
    fc.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("w", fc.weights.value);
    ref.put("b", fc.biases.value);
    ref.put("dy", dy);
    ref.run("linear", "{\"x\":" + dims(k.x) + ",\"w\":" + dims(fc.weights.value.shape()) + "}");
    expect_close("y", y, ref.get<float>("y", y.shape()));
    expect_close("dx", dx, ref.get<float>("dx", x.shape()));
    expect_close("dw", fc.weights.grad, ref.get<float>("dw", fc.weights.value.shape()));
    expect_close("db", fc.biases.grad, ref.get<float>("db", fc.biases.value.shape()));
  }
}

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
