// bf16 mixed precision on the GPU (Context<CUDA>::set_precision(Precision::BF16)): the
// convolution (cuDNN, bf16 tensors, float32 compute) and the fully connected layer (cuBLAS
// GemmEx, bf16 operands, float32 accumulation and result) against the CPU layers in double on
// the same operands rounded to bf16 on the host (graft::bf16, round to nearest even: the
// rounding the GPU applies). NCHW and channels-last. Tolerances on max|got - want| / max|want|:
//   convolution y, dx, dw: 4e-3: cuDNN writes them in bf16, a rounding of at most 2^-9 = 2.0e-3
//     of each value, over the float32 accumulation's ~1e-6;
//   fully connected y, dx, dw: 1e-4: the result stays float32, so only float accumulation of
//     exact products of bf16 values remains (as kTolFloat32);
//   biases' gradients: kTolFloat32, from the float32 dy (no bf16 in the bias sum).
// A small VGG16 in bf16, forward and backward against nn::vgg16<double, CPU> on unrounded
// parameters: 16 layers of 2^-9 roundings, 8e-2 for the logits and the fc gradients (TF32,
// with 2^-11, gets 3e-2 in test_cuda_layers; the conv gradients are left out for the reason
// given there: a rounding may move a max pool's argmax).
#include <array>
#include <cmath>

#include "cuda/reference.hpp"
#include "cuda/support.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"

using namespace graft;
using namespace graft::test;

namespace {

constexpr double kTolBf16Out = 4e-3;

Tensor<float> rounded(const Tensor<float>& t) {
  Tensor<float> r(t.shape());
  for (int64_t i = 0; i < t.size(); ++i) r[i] = round_bf16(t[i]);
  return r;
}

void check_conv_bf16(const Shape& xs, int64_t o, const Window2d& win, bool channels_last) {
  INFO("Conv2d bf16 " << xs.str() << " -> " << o << " " << win.str() << (channels_last ? " channels-last" : " NCHW"));
  Context<CUDA> ctx;
  ctx.set_precision(Precision::BF16);
  ctx.set_channels_last(channels_last);
  Conv2d<float, CUDA> conv("conv", xs[1], o, win);
  const Shape ys = conv.setup(xs, ctx);
  const double fan_in = double(xs[1] * win.kh * win.kw);
  const Tensor<float> x = random_host(xs), w = random_host(conv.weights.value.shape(), std::sqrt(2.0 / fan_in)),
                      b = random_host({o}, 0.1), dy = random_host(ys);
  copy_from_host(w, conv.weights.value);
  copy_from_host(b, conv.biases.value);
  const ref::Conv r = ref::conv2d(win, rounded(x), rounded(w), b, rounded(dy));
  const ref::Conv r_bias = ref::conv2d(win, x, w, b, dy);  // db from the float32 dy
  auto stored = [&](const Tensor<float>& t) { return channels_last ? to_nhwc(t) : clone(t); };
  auto logical = [&](const Tensor<float>& t) { return channels_last ? to_nchw(t) : clone(t); };
  Tensor<float, CUDA> xd = to_device(stored(x)), dyd = to_device(stored(dy)), y, dx;
  for (int run = 0; run < 2; ++run) {  // the second with the cached algorithms
    INFO("run " << run);
    poison(y, ys);
    conv.forward(xd, y);
    poison(dx, xs);
    poison(conv.weights.grad, w.shape());
    poison(conv.biases.grad, b.shape());
    conv.backward(xd, y, dyd, &dx);
    CHECK(max_rel_error(logical(to_host(y)), r.y) < kTolBf16Out);
    CHECK(max_rel_error(logical(to_host(dx)), r.dx) < kTolBf16Out);
    CHECK(max_rel_error(to_host(conv.weights.grad), r.dw) < kTolBf16Out);
    CHECK(max_rel_error(to_host(conv.biases.grad), r_bias.db) < kTolFloat32);
  }
  // FP32 and bf16 keep separate algorithm choices (the cache key's data type).
  CHECK(ctx.conv_algos_cached() == 1);
  ctx.set_precision(Precision::FP32);
  conv.forward(xd, y);
  CHECK(ctx.conv_algos_cached() == 2);
}

}  // namespace

TEST_CASE("cuda bf16: Conv2d on VGG-like, strided and 1x1 shapes, NCHW and channels-last", "[cuda][bf16]") {
  require_device();
  for (bool cl : {false, true}) {
    check_conv_bf16({2, 64, 28, 28}, 128, {3, 3, 1, 1, 1, 1, false}, cl);
    check_conv_bf16({3, 5, 13, 11}, 7, {3, 3, 2, 2, 1, 1, false}, cl);
    check_conv_bf16({2, 32, 7, 7}, 16, {1, 1, 1, 1, 0, 0, false}, cl);
  }
}

TEST_CASE("cuda bf16: Linear forward and backward", "[cuda][bf16]") {
  require_device();
  for (const auto& sz : {std::array<int64_t, 3>{8, 512, 10}, std::array<int64_t, 3>{5, 37, 3}}) {
    const int64_t n = sz[0], in = sz[1], out = sz[2];
    INFO("Linear bf16 " << n << "x" << in << " -> " << out);
    Context<CUDA> ctx;
    ctx.set_precision(Precision::BF16);
    Linear<float, CUDA> fc("fc", in, out);
    fc.setup(Shape{n, in}, ctx);
    const Tensor<float> x = random_host({n, in}), w = random_host({out, in}, 0.1), b = random_host({out}, 0.1),
                        dy = random_host({n, out});
    copy_from_host(w, fc.weights.value);
    copy_from_host(b, fc.biases.value);
    const ref::Linear r = ref::linear(rounded(x), rounded(w), b, rounded(dy));
    const ref::Linear r_bias = ref::linear(x, w, b, dy);
    Tensor<float, CUDA> xd = to_device(x), dyd = to_device(dy), y, dx;
    poison(y, Shape{n, out});
    fc.forward(xd, y);
    poison(dx, Shape{n, in});
    poison(fc.weights.grad, w.shape());
    poison(fc.biases.grad, b.shape());
    fc.backward(xd, y, dyd, &dx);
    CHECK(max_rel_error(to_host(y), r.y) < kTolFloat32);
    CHECK(max_rel_error(to_host(dx), r.dx) < kTolFloat32);
    CHECK(max_rel_error(to_host(fc.weights.grad), r.dw) < kTolFloat32);
    CHECK(max_rel_error(to_host(fc.biases.grad), r_bias.db) < kTolFloat32);
    // and it is not the float32 product: the rounding of the operands shows against it
    CHECK(max_rel_error(to_host(y), r_bias.y) > 1e-5);
  }
}

TEST_CASE("cuda bf16: graft's convolution kernel and double layers refuse bf16 mode", "[cuda][bf16]") {
  require_device();
  Context<CUDA> ctx;
  ctx.set_precision(Precision::BF16);
  Conv2d<float, CUDA> conv("conv1", 3, 8, 3, 1, 1);
  conv.setup(Shape{2, 3, 8, 8}, ctx);
  conv.plan().set_impl(ConvImpl::Graft);
  Tensor<float, CUDA> x = to_device(random_host({2, 3, 8, 8})), y;
  CHECK_THROWS_WITH(conv.forward(x, y), Catch::Contains("conv1") && Catch::Contains("bf16"));
  Linear<double, CUDA> fc("fc", 4, 2);
  fc.setup(Shape{3, 4}, ctx);
  Tensor<double, CUDA> xd(Shape{3, 4}), yd;
  xd.zero();
  CHECK_THROWS_WITH(fc.forward(xd, yd), Catch::Contains("fc") && Catch::Contains("bf16 precision needs float"));
  CHECK_THROWS_WITH(parse_precision("fp16"), Catch::Contains("fp32 or bf16"));
}

TEST_CASE("cuda bf16: small VGG16 forward+backward, NCHW and channels-last, near the CPU", "[cuda][bf16]") {
  require_device();
  const int64_t n = 2, classes = 5;
  const double width = 1.0 / 16, tol = 8e-2;
  const uint64_t seed = fresh_seed();
  Tensor<float> x = random_host({n, 3, 32, 32});
  Tensor<int32_t> labels(Shape{n});
  for (int64_t i = 0; i < n; ++i) labels[i] = int32_t((i * 3) % classes);
  const ref::Vgg r = ref::vgg16_small(width, classes, seed, x, labels);
  Tensor<float, CUDA> xd = to_device(x), dlogits;
  Tensor<int32_t, CUDA> ld = to_device(labels);
  for (bool channels_last : {false, true}) {
    INFO((channels_last ? "channels-last" : "NCHW") << " seed " << seed);
    nn::VggOptions vo;
    vo.width = width;
    vo.input = 32;
    auto net = nn::vgg16<float, CUDA>(classes, vo);
    net->initialize(seed);
    net->set_training(false);
    net->context().set_precision(Precision::BF16);
    net->context().set_channels_last(channels_last);
    const Tensor<float> logits = to_host(net->forward(xd));
    CHECK(max_rel_error(logits, r.logits) < tol);
    SoftmaxCrossEntropy<float, CUDA> loss;
    loss.setup(net->context());
    CHECK(loss.forward(net->output(), ld) == Approx(r.loss).epsilon(tol));
    loss.backward(ld, dlogits);
    net->backward(dlogits);
    const auto params = net->params();
    REQUIRE(params.size() == r.grads.size());
    for (size_t k = 0; k < params.size(); ++k) {
      if (params[k].name.rfind("fc", 0) != 0) continue;  // (see the top of this file)
      INFO(params[k].name);
      CHECK(max_rel_error(to_host(params[k].param->grad), r.grads[k]) < tol);
    }
  }
}

// Network::fuse_relu on the GPU: the same network, unfused then fused (the same context, so
// the same cuDNN algorithms): the logits equal exactly (the epilogue computes max(y + b, 0)
// with the same float operations: bias_relu, bias_relu_rows, the bf16 widening, relu_inplace
// after graft's kernel), the gradients within 1e-5 (cuDNN's backward-filter algorithms may
// sum in another order from run to run).
TEST_CASE("cuda fusion: conv+ReLU fused equals unfused, NCHW/channels-last, fp32/bf16, cuDNN/graft", "[cuda][bf16]") {
  require_device();
  const int64_t n = 2, classes = 5;
  Tensor<float> x = random_host({n, 3, 32, 32});
  Tensor<int32_t> labels(Shape{n});
  for (int64_t i = 0; i < n; ++i) labels[i] = int32_t(i % classes);
  Tensor<float, CUDA> xd = to_device(x), dlogits;
  Tensor<int32_t, CUDA> ld = to_device(labels);
  for (int mode = 0; mode < 5; ++mode) {
    const bool channels_last = mode == 1 || mode == 3, bf16 = mode >= 2 && mode <= 3, graft_conv = mode == 4;
    INFO((channels_last ? "channels-last" : "NCHW") << (bf16 ? " bf16" : " fp32") << (graft_conv ? " graft conv" : ""));
    nn::VggOptions vo;
    vo.width = 1.0 / 16;
    vo.input = 32;
    auto net = nn::vgg16<float, CUDA>(classes, vo);
    net->initialize(9);
    net->set_training(false);
    net->context().set_channels_last(channels_last);
    net->context().set_precision(bf16 ? Precision::BF16 : Precision::FP32);
    if (graft_conv)
      for (auto* l : net->layers())
        if (l->implementation_kind() == "convolution") l->use_implementation("graft");
    SoftmaxCrossEntropy<float, CUDA> loss;
    loss.setup(net->context());
    auto pass = [&](std::vector<Tensor<float>>& grads) {
      Tensor<float> logits = to_host(net->forward(xd));
      loss.forward(net->output(), ld);
      loss.backward(ld, dlogits);
      net->backward(dlogits);
      grads.clear();
      for (auto& np : net->params()) grads.push_back(to_host(np.param->grad));
      return logits;
    };
    std::vector<Tensor<float>> g0, g1;
    const Tensor<float> plain = pass(g0);
    CHECK(net->fuse_relu() == 15);  // 13 conv+ReLU, relu6/relu7 into drop6/drop7
    const Tensor<float> fused = pass(g1);
    CHECK(max_rel_error(fused, plain) == 0.0);
    REQUIRE(g0.size() == g1.size());
    for (size_t k = 0; k < g0.size(); ++k) CHECK(max_rel_error(g1[k], g0[k]) < 1e-5);
  }
}
