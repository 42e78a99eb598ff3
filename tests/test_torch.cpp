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

namespace {
std::string bool_str(bool b) { return b ? "true" : "false"; }
}  // namespace

TEST_CASE("BatchNorm2d matches torch.nn.BatchNorm2d in train mode (forward, dx, dgamma, dbeta, running stats)",
          "[torch]") {
  struct Case { Shape x; double eps, momentum; };
  const Case cases[] = {{Shape{4, 64, 28, 28}, 1e-5, 0.1},  // a VGG-like block
                        {Shape{3, 7, 5, 9}, 1e-3, 0.3},     // odd sizes, other eps and momentum
                        {Shape{16, 10}, 1e-5, 0.1}};        // rank 2: BatchNorm1d
  for (const auto& k : cases) {
    INFO("input " << k.x.str());
    test::TorchRef ref;
    Context<CPU> ctx;
    BatchNorm2d<float> bn("bn", 0, k.eps, k.momentum);
    bn.setup(k.x, ctx);
    bn.set_training(true);
    const int64_t c = k.x[1];
    fill_normal(bn.scale.value, 21, 0.5);
    fill_normal(bn.offset.value, 22, 0.5);
    fill_normal(bn.running_mean, 23, 0.2);
    test::fill_uniform(bn.running_var, 24, 0.5, 1.5);
    ref.put("gamma", bn.scale.value);
    ref.put("beta", bn.offset.value);
    ref.put("mean0", bn.running_mean);
    ref.put("var0", bn.running_var);
    // Inputs with a mean and spread per channel unlike the running statistics'.
    Tensor<float> x(k.x), x2(k.x), y, y2, dx;
    fill_normal(x, 25, 3.0);
    fill_normal(x2, 26, 0.7);
    const int64_t p = k.x.numel() / (k.x[0] * c);
    for (int64_t i = 0; i < x.size(); ++i) {
      x[i] += 1.5f + float((i / p) % c) * 0.1f;
      x2[i] -= 0.5f;
    }
    bn.forward(x, y);
    Tensor<float> dy(k.x);
    fill_normal(dy, 27);
    bn.backward(x, y, dy, &dx);
    bn.forward(x2, y2);  // the second update of the running statistics
    ref.put("x", x);
    ref.put("x2", x2);
    ref.put("dy", dy);
    ref.run("batch_norm2d", "{\"x\":" + dims(k.x) + ",\"eps\":" + std::to_string(k.eps) +
                                ",\"momentum\":" + std::to_string(k.momentum) + ",\"train\":true}");
    expect_close("y", y, ref.get<float>("y", k.x));
    expect_close("dx", dx, ref.get<float>("dx", k.x));
    expect_close("dgamma", bn.scale.grad, ref.get<float>("dgamma", Shape{c}));
    expect_close("dbeta", bn.offset.grad, ref.get<float>("dbeta", Shape{c}));
    expect_close("running_mean", bn.running_mean, ref.get<float>("mean", Shape{c}));
    expect_close("running_var", bn.running_var, ref.get<float>("var", Shape{c}));
  }
}

TEST_CASE("BatchNorm2d matches torch.nn.BatchNorm2d in eval mode (forward, dx, dgamma, dbeta)", "[torch]") {
  const Shape shapes[] = {Shape{2, 32, 14, 14}, Shape{5, 12}};
  for (const auto& s : shapes) {
    INFO("input " << s.str());
    test::TorchRef ref;
    Context<CPU> ctx;
    BatchNorm2d<float> bn("bn", 0);
    bn.setup(s, ctx);
    const int64_t c = s[1];
    fill_normal(bn.scale.value, 31, 0.5);
    fill_normal(bn.offset.value, 32, 0.5);
    fill_normal(bn.running_mean, 33, 0.5);
    test::fill_uniform(bn.running_var, 34, 0.2, 3.0);
    ref.put("gamma", bn.scale.value);
    ref.put("beta", bn.offset.value);
    ref.put("mean0", bn.running_mean);
    ref.put("var0", bn.running_var);
    Tensor<float> x(s), y, dx;
    fill_normal(x, 35, 2.0);
    bn.forward(x, y);
    Tensor<float> dy(s);
    fill_normal(dy, 36);
    bn.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("dy", dy);
    ref.run("batch_norm2d", "{\"x\":" + dims(s) + ",\"eps\":1e-5,\"momentum\":0.1,\"train\":false}");
    expect_close("y", y, ref.get<float>("y", s));
    expect_close("dx", dx, ref.get<float>("dx", s));
    expect_close("dgamma", bn.scale.grad, ref.get<float>("dgamma", Shape{c}));
    expect_close("dbeta", bn.offset.grad, ref.get<float>("dbeta", Shape{c}));
    // Evaluation leaves the running statistics as they were.
    expect_close("running_mean", bn.running_mean, ref.get<float>("mean", Shape{c}));
    expect_close("running_var", bn.running_var, ref.get<float>("var", Shape{c}));
  }
}

TEST_CASE("Affine matches x * scale[None, :, None, None] + offset[None, :, None, None]", "[torch]") {
  struct Case { Shape x; bool offset; };
  const Case cases[] = {{Shape{2, 64, 28, 28}, true}, {Shape{3, 5, 7, 3}, false}, {Shape{8, 20}, true}};
  for (const auto& k : cases) {
    INFO("input " << k.x.str() << (k.offset ? " with" : " without") << " offset");
    test::TorchRef ref;
    Context<CPU> ctx;
    Affine<float> aff("affine", 0, k.offset);
    aff.setup(k.x, ctx);
    const int64_t c = k.x[1];
    fill_normal(aff.scale.value, 41, 0.7);
    if (k.offset) fill_normal(aff.offset.value, 42, 0.5);
    Tensor<float> x(k.x), y, dx, dy(k.x);
    fill_normal(x, 43);
    fill_normal(dy, 44);
    aff.forward(x, y);
    aff.backward(x, y, dy, &dx);
    ref.put("x", x);
    ref.put("dy", dy);
    ref.put("scale", aff.scale.value);
    if (k.offset) ref.put("offset", aff.offset.value);
    ref.run("affine", "{\"x\":" + dims(k.x) + ",\"offset\":" + bool_str(k.offset) + "}");
    expect_close("y", y, ref.get<float>("y", k.x));
    expect_close("dx", dx, ref.get<float>("dx", k.x));
    expect_close("dscale", aff.scale.grad, ref.get<float>("dscale", Shape{c}));
    if (k.offset) expect_close("doffset", aff.offset.grad, ref.get<float>("doffset", Shape{c}));
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
