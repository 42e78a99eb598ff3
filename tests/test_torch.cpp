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
TEST_CASE("AvgPool2d matches torch.nn.functional.avg_pool2d (forward, dx)", "[torch]") {
  struct Case { Shape x; int k, s, p; bool ceil, count_pad; };
  const Case cases[] = {{Shape{2, 64, 56, 56}, 2, 2, 0, false, true},
                        {Shape{2, 8, 13, 11}, 3, 2, 1, false, true},
                        {Shape{2, 8, 13, 11}, 3, 2, 1, false, false},  // count_include_pad=False
                        {Shape{2, 8, 13, 11}, 3, 2, 0, true, true},    // ceil: last window cut by the edge
                        {Shape{2, 8, 14, 12}, 3, 2, 1, true, true},    // ceil: windows past the padded input
                        {Shape{2, 8, 14, 12}, 3, 2, 1, true, false},
                        {Shape{1, 4, 9, 10}, 5, 3, 2, true, true}};
  for (const auto& k : cases) {
    INFO("input " << k.x.str() << " window " << k.k << " stride " << k.s << " pad " << k.p << " ceil " << k.ceil
                  << " count_pad " << k.count_pad);
    test::TorchRef ref;
    Context<CPU> ctx;
    AvgPool2d<float> pool("avgpool", k.k, k.s, k.p, k.ceil, k.count_pad);
    pool.setup(k.x, ctx);
    Tensor<float> x(k.x), y, dx;
    fill_normal(x, 7);
    pool.forward(x, y);
    Tensor<float> dy(y.shape());
    fill_normal(dy, 8);
    pool.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("dy", dy);
    ref.run("avg_pool2d", "{\"x\":" + dims(k.x) + ",\"kernel\":" + std::to_string(k.k) +
                              ",\"stride\":" + std::to_string(k.s) + ",\"pad\":" + std::to_string(k.p) +
                              ",\"ceil\":" + (k.ceil ? "true" : "false") +
                              ",\"count_pad\":" + (k.count_pad ? "true" : "false") + "}");
    // (a wrong output size would fail reading torch's y: its shape is ours)
    expect_close("y", y, ref.get<float>("y", y.shape()));
    expect_close("dx", dx, ref.get<float>("dx", x.shape()));
  }
}

TEST_CASE("GlobalAvgPool2d matches torch.nn.functional.adaptive_avg_pool2d(x, 1)", "[torch]") {
  for (const Shape& s : {Shape{2, 512, 7, 7}, Shape{3, 5, 4, 9}}) {
    INFO("input " << s.str());
    test::TorchRef ref;
    Context<CPU> ctx;
    GlobalAvgPool2d<float> pool("gap");
    pool.setup(s, ctx);
    Tensor<float> x(s), y, dx;
    fill_normal(x, 9);
    pool.forward(x, y);
    REQUIRE(y.shape() == Shape({s[0], s[1], 1, 1}));
    Tensor<float> dy(y.shape());
    fill_normal(dy, 10);
    pool.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("dy", dy);
    ref.run("adaptive_avg_pool2d", "{\"x\":" + dims(s) + "}");
    expect_close("y", y, ref.get<float>("y", y.shape()));
    expect_close("dx", dx, ref.get<float>("dx", s));
  }
}

TEST_CASE("Add matches a + b + ..., and zero_pad matches torch.nn.functional.pad then add", "[torch]") {
  struct Case { std::vector<Shape> in; bool pad; };
  const Case cases[] = {
      {{Shape{2, 64, 28, 28}, Shape{2, 64, 28, 28}}, false},
      {{Shape{3, 10}, Shape{3, 10}, Shape{3, 10}}, false},
      {{Shape{2, 64, 14, 14}, Shape{2, 32, 14, 14}}, true},              // shortcut with half the channels
      {{Shape{2, 8, 7, 7}, Shape{2, 16, 8, 6}, Shape{2, 4, 8, 8}}, true},  // every axis differs
      {{Shape{4, 3}, Shape{4, 9}}, true},
  };
  for (const auto& cs : cases) {
    test::TorchRef ref;
    Context<CPU> ctx;
    Add<float> add("add", cs.pad);
    const Shape out = add.setup(cs.in, ctx);
    std::vector<Tensor<float>> xs;
    std::vector<const Tensor<float>*> in;
    std::string shapes = "[";
    for (size_t i = 0; i < cs.in.size(); ++i) {
      xs.emplace_back(cs.in[i]);
      fill_normal(xs.back(), 20 + i);
      shapes += (i ? "," : "") + dims(cs.in[i]);
    }
    shapes += "]";
    INFO("inputs " << shapes << (cs.pad ? " zero-padded" : ""));
    for (auto& x : xs) in.push_back(&x);
    Tensor<float> y(out), dy(out);
    poison(y);  // every element must be written
    fill_normal(dy, 29);
    add.forward_multi(in, y);
    std::vector<Tensor<float>> dxs(xs.size());
    std::vector<Tensor<float>*> dxp;
    for (size_t i = 0; i < xs.size(); ++i) {
      dxs[i].resize(cs.in[i]);
      poison(dxs[i]);
      dxp.push_back(&dxs[i]);
      ref.put("x" + std::to_string(i), xs[i]);
    }
    add.backward_multi(in, y, dy, dxp);
    ref.put("dy", dy);
    ref.run("add", "{\"x\":" + shapes + ",\"pad\":" + (cs.pad ? "true" : "false") + "}");
    expect_close("y", y, ref.get<float>("y", out));
    for (size_t i = 0; i < xs.size(); ++i)
      expect_close(("dx" + std::to_string(i)).c_str(), dxs[i], ref.get<float>("dx" + std::to_string(i), cs.in[i]));
  }
}
