// On the GPU against the CPU, beyond the layer cases (test_cuda_layer_cases): max and average
// pooling's ceil-mode fallback from cuDNN, AddReLU, ReLU's misaligned path, softmax
// cross-entropy (graft's fused kernel and cuDNN), the optimizer updates, the fused bias
// kernels, BatchNorm2d/Affine specifics, and networks end to end.
#include <cmath>
#include <memory>

#include "cuda/reference.hpp"
#include "cuda/support.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"
#include "kernels/bias.cuh"
#include "support/residual_net.hpp"

using namespace graft;
using namespace graft::test;

// Every layer's CUDA-vs-CPU check (Conv2d, Linear, MaxPool2d, AvgPool2d and GlobalAvgPool2d
// with graft's kernels and cuDNN, ReLU, Dropout, Flatten, Add, Affine, BatchNorm2d; NCHW and
// channels-last; TF32 and FP32) is a layer case
// (tests/support/layer_cases.hpp) run by test_cuda_layer_cases. What follows is beyond them.

TEST_CASE("cuda MaxPool2d: cuDNN has no ceil mode, graft's kernels run instead", "[cuda]") {
  require_device();
  Context<CUDA> ctx;
  MaxPool2d<float, CUDA> pool("pool_ceil", 3, 2, 0, true);
  pool.setup(Shape{1, 1, 6, 6}, ctx);
  pool.plan().set_impl(PoolImpl::Cudnn);
  ConvGeometry g;
  g.n = 1; g.c = 1; g.h = 6; g.w = 6; g.o = 1; g.oh = 3; g.ow = 3; g.win = pool.window();
  CHECK(pool.plan().impl_used(g) == PoolImpl::Graft);
}

TEST_CASE("cuda AvgPool2d: cuDNN has no ceil mode, graft's kernels run instead", "[cuda]") {
  require_device();
  Context<CUDA> ctx;
  AvgPool2d<float, CUDA> pool("avg_ceil", 3, 2, 1, true);
  pool.setup(Shape{1, 1, 8, 8}, ctx);
  pool.plan().set_impl(PoolImpl::Cudnn);
  ConvGeometry g;
  g.n = 1; g.c = 1; g.h = 8; g.w = 8; g.o = 1; g.win = pool.window();
  g.oh = g.win.out_h(8); g.ow = g.win.out_w(8);
  CHECK(g.oh == 5);  // (cuDNN's floor rule gives 4)
  CHECK(pool.plan().impl_used(g) == PoolImpl::Graft);
}

TEST_CASE("cuda AddReLU: the fused add and ReLU equal the CPU's", "[cuda][sanitize]") {
  require_device();
  Context<CUDA> ctx;
  AddReLU<float, CUDA> fused("add_relu");
  const Shape s{3, 7, 11, 13};
  fused.setup(std::vector<Shape>{s, s}, ctx);
  Tensor<float> a = random_host(s), b = random_host(s), dy = random_host(s);
  const ref::Sum r = ref::add_relu(a, b, dy);
  Tensor<float, CUDA> ad = to_device(a), bd = to_device(b), dyd = to_device(dy), y, da, db;
  poison(y, s);
  fused.forward_multi({&ad, &bd}, y);
  poison(da, s);
  poison(db, s);
  fused.backward_multi({&ad, &bd}, y, dyd, {&da, &db});
  CHECK(max_rel_error(to_host(y), r.y) == 0.0);
  CHECK(max_rel_error(to_host(da), r.dx[0]) == 0.0);
  CHECK(max_rel_error(to_host(db), r.dx[1]) == 0.0);
}

TEST_CASE("cuda ReLU: the kernel's scalar path on a view one element off alignment", "[cuda][sanitize]") {
  require_device();
  Context<CUDA> ctx;
  const int64_t n = 4099;
  Tensor<float> x = random_host({n + 1});
  Tensor<float, CUDA> xd = to_device(x), yd;
  poison(yd, Shape{n + 1});
  Backend<CUDA>::relu_forward(ctx, n, xd.data() + 1, yd.data() + 1);
  Tensor<float> y = to_host(yd);
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok = ok && y[i + 1] == (x[i + 1] > 0 ? x[i + 1] : 0.0f);
  CHECK(ok);
  CHECK(std::isnan(y[0]));  // untouched
}

TEST_CASE("cuda SoftmaxCrossEntropy: graft's fused kernel and cuDNN; bad labels", "[cuda][sanitize]") {
  require_device();
  Context<CUDA> ctx;
  for (int64_t k : {2, 1000, 2622}) {
    const int64_t n = k == 2622 ? 5 : 64;
    Tensor<float> z = random_host({n, k}, 4.0);
    Tensor<int32_t> labels(Shape{n});
    Rng rng(fresh_seed());
    for (auto& l : labels) l = int32_t(rng.below(uint64_t(k)));
    const ref::Softmax r = ref::softmax_xent(z, labels, 0.5f);
    Tensor<float, CUDA> zd = to_device(z), dz;
    Tensor<int32_t, CUDA> ld = to_device(labels);
    for (cuda::SoftmaxImpl impl : {cuda::SoftmaxImpl::Graft, cuda::SoftmaxImpl::Cudnn}) {
      INFO("softmax n=" << n << " k=" << k << (impl == cuda::SoftmaxImpl::Graft ? " graft" : " cudnn"));
      ctx.set_softmax_impl(impl);
      SoftmaxCrossEntropy<float, CUDA> loss;
      loss.setup(ctx);
      const double l = loss.forward(zd, ld);
      CHECK(l == Approx(r.loss).epsilon(1e-5));
      CHECK(max_rel_error(to_host(loss.probabilities()), r.probs) < 1e-5);
      poison(dz, Shape{n, k});
      loss.backward(ld, dz, 0.5f);
      CHECK(max_rel_error(to_host(dz), r.dlogits) < 1e-5);
    }
  }
  SoftmaxCrossEntropy<float, CUDA> loss("xent");
  loss.setup(ctx);
  Tensor<int32_t> bad(Shape{3});
  bad[0] = 0; bad[1] = 2; bad[2] = 1;
  Tensor<float, CUDA> z(Shape{3, 2});
  z.zero();
  CHECK_THROWS_WITH(loss.forward(z, to_device(bad)),
                    Catch::Contains("xent (SoftmaxCrossEntropy)") && Catch::Contains("label at index 1"));
}

TEST_CASE("cuda optimizer updates: SGD (momentum, Nesterov, none) and Adam", "[cuda]") {
  require_device();
  Context<CUDA> ctx;
  for (int64_t n : {int64_t(1) << 20, int64_t(1001)}) {
    Tensor<float> w = random_host({n}), g = random_host({n}), buf = random_host({n}), m = random_host({n}, 0.1);
    Tensor<float> v(Shape{n});
    fill_uniform(v, fresh_seed(), 0.01, 1.0);
    for (float momentum : {0.9f, 0.0f})
      for (bool nesterov : {false, true}) {
        INFO("sgd n=" << n << " momentum " << momentum << (nesterov ? " nesterov" : ""));
        Tensor<float> wc = clone(w), bc = clone(buf);
        ref::sgd(wc, g, bc, 0.05f, momentum, 5e-4f, nesterov);
        Tensor<float, CUDA> wd = to_device(w), gd = to_device(g), bd = to_device(buf);
        Backend<CUDA>::sgd_update(ctx, n, wd.data(), gd.data(), bd.data(), 0.05f, momentum, 5e-4f, nesterov);
        CHECK(max_rel_error(to_host(wd), wc) < 1e-6);
        CHECK(max_rel_error(to_host(bd), bc) < 1e-6);
      }
    for (int64_t step : {1, 10}) {
      INFO("adam n=" << n << " step " << step);
      Tensor<float> wc = clone(w), mc = clone(m), vc = clone(v);
      ref::adam(wc, g, mc, vc, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f, step);
      Tensor<float, CUDA> wd = to_device(w), gd = to_device(g), md = to_device(m), vd = to_device(v);
      Backend<CUDA>::adam_update(ctx, n, wd.data(), gd.data(), md.data(), vd.data(), 1e-3f, 0.9f, 0.999f, 1e-8f,
                                 1e-4f, step);
      CHECK(max_rel_error(to_host(wd), wc) < 1e-6);
      CHECK(max_rel_error(to_host(md), mc) < 1e-6);
      CHECK(max_rel_error(to_host(vd), vc) < 1e-6);
    }
  }
}

TEST_CASE("cuda bias kernels: add, fused bias+ReLU and gradient", "[cuda][sanitize]") {
  require_device();
  Context<CUDA> ctx;
  for (const Shape& s : {Shape{2, 64, 56, 56}, Shape{3, 5, 7, 7}, Shape{64, 4096, 1, 1}}) {
    const int64_t n = s[0], o = s[1], p = s[2] * s[3];
    Tensor<float> y0 = random_host(s), b = random_host({o});
    Tensor<float> add(s), fused(s);
    Tensor<double> db(Shape{o}, 0.0);
    for (int64_t e = 0; e < s.numel(); ++e) {
      add[e] = y0[e] + b[(e / p) % o];
      fused[e] = add[e] > 0 ? add[e] : 0.0f;
      db[(e / p) % o] += y0[e];
    }
    Tensor<float, CUDA> yd = to_device(y0), bd = to_device(b), dbd;
    kernels::bias_add<float>(n, o, p, yd.data(), bd.data(), ctx.stream());
    CHECK(max_rel_error(to_host(yd), add) == 0.0);
    yd = to_device(y0);
    kernels::bias_relu<float>(n, o, p, yd.data(), bd.data(), ctx.stream());
    CHECK(max_rel_error(to_host(yd), fused) == 0.0);
    poison(dbd, Shape{o});
    yd = to_device(y0);
    kernels::bias_grad<float>(n, o, p, yd.data(), dbd.data(), ctx.scratch<float>(size_t(n * o)), ctx.stream());
    CHECK(max_rel_error(to_host(dbd), db) < kTolFloat32);
  }
}

TEST_CASE("cuda network: conv-relu-pool-flatten-fc-loss equals the CPU end to end", "[cuda][sanitize]") {
  require_device();
  // Composed on both devices with the same weights; compared after forward and backward.
  Context<CUDA> ctx;
  ctx.set_tf32(false);
  Conv2d<float, CUDA> conv("conv1", 3, 8, 3, 1, 1);
  ReLU<float, CUDA> relu("relu1");
  MaxPool2d<float, CUDA> pool("pool1", 2, 2);
  Flatten<float, CUDA> flat("flat");
  Linear<float, CUDA> fc("fc", 0, 3);
  SoftmaxCrossEntropy<float, CUDA> loss;
  const Shape xs{4, 3, 16, 16};
  Shape s = conv.setup(xs, ctx);
  s = relu.setup(s, ctx);
  s = pool.setup(s, ctx);
  s = flat.setup(s, ctx);
  fc.setup(s, ctx);
  loss.setup(ctx);
  conv.plan().set_impl(ConvImpl::Graft);
  Tensor<float> x = random_host(xs), w1 = random_host({8, 3, 3, 3}, 0.5), b1 = random_host({8}, 0.1),
                w2 = random_host({3, 8 * 8 * 8}, 0.1), b2 = random_host({3}, 0.1);
  Tensor<int32_t> labels(Shape{4});
  for (int i = 0; i < 4; ++i) labels[i] = i % 3;
  copy_from_host(w1, conv.weights.value);
  copy_from_host(b1, conv.biases.value);
  copy_from_host(w2, fc.weights.value);
  copy_from_host(b2, fc.biases.value);
  Tensor<float, CUDA> xd = to_device(x), a, r, p, f, z, dz, df, dp, dr, da, dx;
  Tensor<int32_t, CUDA> ld = to_device(labels);
  conv.forward(xd, a);
  relu.forward(a, r);
  pool.forward(r, p);
  flat.forward(p, f);
  fc.forward(f, z);
  const double l = loss.forward(z, ld);
  loss.backward(ld, dz);
  fc.backward(f, z, dz, &df);
  flat.backward(p, f, df, &dp);
  pool.backward(r, p, dp, &dr);
  relu.backward(a, r, dr, &da);
  conv.backward(xd, a, da, &dx);

  // The CPU side, layer by layer through the references.
  const ref::Conv rc = ref::conv2d(conv.window(), x, w1, b1, Tensor<float>(Shape{4, 8, 16, 16}, 0.0f));
  Tensor<float> a_h = cast<float>(rc.y);
  const ref::Relu rr = ref::relu(a_h, a_h);
  const ref::Pool rp = ref::max_pool(pool.window(), rr.y, Tensor<float>(Shape{4, 8, 8, 8}, 0.0f));
  Tensor<float> f_h = clone(rp.y);
  f_h.reshape(Shape{4, 8 * 8 * 8});
  const ref::Linear rl0 = ref::linear(f_h, w2, b2, Tensor<float>(Shape{4, 3}, 0.0f));
  const ref::Softmax rs = ref::softmax_xent(cast<float>(rl0.y), labels, 1.0f);
  const ref::Linear rl = ref::linear(f_h, w2, b2, rs.dlogits);
  Tensor<float> dp_h = cast<float>(rl.dx);
  dp_h.reshape(Shape{4, 8, 8, 8});
  const ref::Pool rp2 = ref::max_pool(pool.window(), rr.y, dp_h);
  const ref::Relu rr2 = ref::relu(a_h, rp2.dx);
  const ref::Conv rc2 = ref::conv2d(conv.window(), x, w1, b1, rr2.dx);

  CHECK(l == Approx(rs.loss).epsilon(1e-4));
  CHECK(max_rel_error(to_host(fc.weights.grad), rl.dw) < 1e-4);
  CHECK(max_rel_error(to_host(conv.weights.grad), rc2.dw) < 1e-4);
  CHECK(max_rel_error(to_host(conv.biases.grad), rc2.db) < 1e-4);
  CHECK(max_rel_error(to_host(dx), rc2.dx) < 1e-4);
}

// A width-reduced VGG16 (4 to 32 channels, fc 256) on 32x32 inputs, NCHW and channels-last,
// TF32 off and on, against nn::vgg16<double, CPU> with the same parameters (drawn from the
// seed, equal on both devices): logits, loss, pool5's output through activation() (which
// hands channels-last activations back in NCHW order) and every parameter's gradient.
// Tolerances on max|got - want| / max|want|: FP32 1e-3 (13 convolutions and 3 fc layers of
// float rounding and cuDNN's algorithms), TF32 3e-2 (2^-11 per operand through 16 layers).
// With TF32 only the forward and the fc gradients are compared: TF32 rounding may move a max
// pool's argmax between two nearly equal values (likely somewhere among pool4's and pool5's
// windows), which routes a few gradient terms elsewhere and changes those convolutions' dw by
// O(1) at one channel: not an error. The convolutions' TF32 gradients in channels-last mode
// are checked layer by layer in test_cuda_conv. Evaluation mode: no dropout, whose 4-D masks
// would differ by design (the fc ones would not).
TEST_CASE("cuda network: small VGG16 forward+backward, NCHW and channels-last, equals the CPU", "[cuda]") {
  require_device();
  const int64_t n = 2, classes = 5;
  const double width = 1.0 / 16;
  const uint64_t seed = fresh_seed();
  Tensor<float> x = random_host({n, 3, 32, 32});
  Tensor<int32_t> labels(Shape{n});
  for (int64_t i = 0; i < n; ++i) labels[i] = int32_t((i * 3) % classes);
  const ref::Vgg r = ref::vgg16_small(width, classes, seed, x, labels);
  Tensor<float, CUDA> xd = to_device(x), dlogits;
  Tensor<int32_t, CUDA> ld = to_device(labels);
  for (bool channels_last : {false, true})
    for (bool tf32 : {false, true}) {
      INFO((channels_last ? "channels-last" : "NCHW") << (tf32 ? " TF32" : " FP32") << " seed " << seed);
      nn::VggOptions vo;
      vo.width = width;
      vo.input = 32;
      auto net = nn::vgg16<float, CUDA>(classes, vo);
      net->initialize(seed);
      net->set_training(false);
      net->context().set_tf32(tf32);
      net->context().set_channels_last(channels_last);
      const double tol = tf32 ? 3e-2 : 1e-3;
      const Tensor<float> logits = to_host(net->forward(xd));
      CHECK(max_rel_error(logits, r.logits) < tol);
      CHECK(max_rel_error(to_host(net->activation(size_t(net->index_of("pool5")))), r.pool5) < tol);
      SoftmaxCrossEntropy<float, CUDA> loss;
      loss.setup(net->context());
      CHECK(loss.forward(net->output(), ld) == Approx(r.loss).epsilon(tol));
      loss.backward(ld, dlogits);
      net->backward(dlogits);
      const auto params = net->params();
      REQUIRE(params.size() == r.grads.size());
      for (size_t k = 0; k < params.size(); ++k) {
        INFO(params[k].name);
        CHECK(params[k].name == r.names[k]);
        if (tf32 && params[k].name.rfind("fc", 0) != 0) continue;  // (see above)
        CHECK(max_rel_error(to_host(params[k].param->grad), r.grads[k]) < tol);
      }
      // feeding the network from pool5's (logical) output must give the same logits
      const Tensor<float, CUDA> p5 = to_device(to_host(net->activation(size_t(net->index_of("pool5")))));
      const Tensor<float> again = to_host(net->forward(p5, size_t(net->index_of("pool5")) + 1));
      CHECK(max_rel_error(again, logits) < 1e-6);
      if (channels_last) {  // changing the layout between forward and backward is refused
        net->forward(xd);
        net->context().set_channels_last(false);
        CHECK_THROWS_WITH(net->backward(dlogits), Catch::Contains("channels-last"));
      }
    }
}

namespace {

// max|got - want| / max|want| for the per-channel layers: float on the GPU against double on
// the host. Each output is a handful of float operations per element, and the sums over a
// channel (at most ~10^5 values here) run in float on the GPU; 1e-4 leaves a wide margin over
// the ~1e-6 that float rounding gives.
constexpr double kTolNorm = 1e-4;

// mean0 random, var0 in [0.3, 2]: running statistics away from the initial (0, 1).
Tensor<float> positive_host(const Shape& s) {
  Tensor<float> t(s);
  fill_uniform(t, fresh_seed(), 0.3, 2.0);
  return t;
}

// The reducer of a run with one rank: a sum over one rank is the data itself. It sends a
// BatchNorm2d down the synchronised path (graft's kernels instead of cuDNN's fused calls).
struct OneRank : StatsReducer {
  void sum(double*, int64_t, const char*) override {}
};

void check_batch_norm(const Shape& xs, bool training, bool channels_last, bool global_stats = false,
                      bool synced = false) {
  INFO("BatchNorm2d " << xs.str() << (training ? " training" : " evaluation")
                      << (global_stats ? " use_global_stats" : "") << (channels_last ? " channels-last" : "")
                      << (synced ? " synchronised" : ""));
  Context<CUDA> ctx;
  ctx.set_channels_last(channels_last);
  const int64_t c = xs[1];
  const double eps = 1e-5, momentum = 0.2;
  BatchNorm2d<float, CUDA> bn("bn", 0, eps, momentum);
  bn.setup(xs, ctx);
  bn.set_training(training);
  bn.set_use_global_stats(global_stats);
  OneRank one;
  if (synced) bn.set_stats_reducer(&one);
  Tensor<float> x = random_host(xs, 2.0), dy = random_host(xs);
  for (auto& v : x) v += 0.7f;  // a mean away from 0
  const Tensor<float> g = random_host({c}, 0.8), b = random_host({c}, 0.5), m0 = random_host({c}, 0.5),
                      v0 = positive_host({c});
  copy_from_host(g, bn.scale.value);
  copy_from_host(b, bn.offset.value);
  copy_from_host(m0, bn.running_mean);
  copy_from_host(v0, bn.running_var);
  // use_global_stats while training is evaluation's arithmetic.
  const ref::Norm r = ref::batch_norm(x, g, b, m0, v0, training && !global_stats, eps, momentum, dy);
  const bool nhwc = channels_last && xs.rank() == 4;
  auto stored = [&](const Tensor<float>& t) { return nhwc ? to_nhwc(t) : clone(t); };
  auto logical = [&](const Tensor<float>& t) { return nhwc ? to_nchw(t) : clone(t); };
  Tensor<float, CUDA> xd = to_device(stored(x)), dyd = to_device(stored(dy)), y, dx;
  poison(y, xs);
  bn.forward(xd, y);
  poison(dx, xs);
  poison(bn.scale.grad, {c});
  poison(bn.offset.grad, {c});
  bn.backward(xd, y, dyd, &dx);
  CHECK(max_rel_error(logical(to_host(y)), r.y) < kTolNorm);
  CHECK(max_rel_error(logical(to_host(dx)), r.dx) < kTolNorm);
  CHECK(max_rel_error(to_host(bn.scale.grad), r.dscale) < kTolNorm);
  CHECK(max_rel_error(to_host(bn.offset.grad), r.doffset) < kTolNorm);
  CHECK(max_rel_error(to_host(bn.running_mean), r.mean) < kTolNorm);
  CHECK(max_rel_error(to_host(bn.running_var), r.var) < kTolNorm);  // unbiased batch variance, as torch

  // Folded into an Affine (same context and layout): the evaluation output.
  if (!training || global_stats) {
    auto aff = bn.to_affine();
    Tensor<float, CUDA> ya;
    poison(ya, xs);
    aff->forward(xd, ya);
    CHECK(max_rel_error(logical(to_host(ya)), r.y) < kTolNorm);
  }
}

void check_affine(const Shape& xs, bool with_offset, bool channels_last) {
  INFO("Affine " << xs.str() << (with_offset ? " with" : " without") << " offset"
                 << (channels_last ? " channels-last" : ""));
  Context<CUDA> ctx;
  ctx.set_channels_last(channels_last);
  const int64_t c = xs[1];
  Affine<float, CUDA> aff("affine", 0, with_offset);
  aff.setup(xs, ctx);
  Tensor<float> x = random_host(xs), dy = random_host(xs);
  const Tensor<float> s = random_host({c}, 0.8), o = random_host({c}, 0.5);
  copy_from_host(s, aff.scale.value);
  if (with_offset) copy_from_host(o, aff.offset.value);
  const ref::Norm r = ref::affine(x, s, with_offset ? &o : nullptr, dy);
  const bool nhwc = channels_last && xs.rank() == 4;
  auto stored = [&](const Tensor<float>& t) { return nhwc ? to_nhwc(t) : clone(t); };
  auto logical = [&](const Tensor<float>& t) { return nhwc ? to_nchw(t) : clone(t); };
  Tensor<float, CUDA> xd = to_device(stored(x)), dyd = to_device(stored(dy)), y, dx;
  poison(y, xs);
  aff.forward(xd, y);
  poison(dx, xs);
  poison(aff.scale.grad, {c});
  if (with_offset) poison(aff.offset.grad, {c});
  aff.backward(xd, y, dyd, &dx);
  CHECK(max_rel_error(logical(to_host(y)), r.y) < kTolNorm);
  CHECK(max_rel_error(logical(to_host(dx)), r.dx) < kTolNorm);
  CHECK(max_rel_error(to_host(aff.scale.grad), r.dscale) < kTolNorm);
  if (with_offset) CHECK(max_rel_error(to_host(aff.offset.grad), r.doffset) < kTolNorm);

  // The fused affine+ReLU launcher: the reference's y through ReLU.
  Tensor<double> want_relu = clone(r.y);
  for (auto& v : want_relu) v = v > 0 ? v : 0;
  poison(y, xs);
  Backend<CUDA>::affine_relu_forward(ctx, xs, xd.data(), aff.scale.value.data(),
                                     with_offset ? aff.offset.value.data() : nullptr, y.data());
  CHECK(max_rel_error(logical(to_host(y)), want_relu) < kTolNorm);
}

}  // namespace

TEST_CASE("cuda BatchNorm2d (cuDNN): training and evaluation, NCHW and channels-last, equals the CPU", "[cuda]") {
  require_device();
  for (bool cl : {false, true}) {
    for (bool training : {true, false}) {
      check_batch_norm({4, 64, 28, 28}, training, cl);
      check_batch_norm({3, 5, 7, 9}, training, cl);  // odd sizes, C % 4 != 0
    }
    check_batch_norm({2, 16, 6, 6}, true, cl, /*global_stats=*/true);
    check_batch_norm({32, 12}, true, cl);  // (n, C): BatchNorm1d, never NHWC
    check_batch_norm({32, 12}, false, cl);
  }
}

TEST_CASE("cuda BatchNorm2d synchronised (graft's kernels, one rank): NCHW and channels-last, equals the CPU",
          "[cuda][sanitize]") {
  require_device();
  for (bool cl : {false, true}) {
    check_batch_norm({4, 64, 28, 28}, true, cl, false, /*synced=*/true);
    check_batch_norm({3, 5, 7, 9}, true, cl, false, true);  // odd sizes, C % 4 != 0
    check_batch_norm({32, 12}, true, cl, false, true);      // (n, C)
    check_batch_norm({3, 5, 7, 9}, false, cl, false, true); // evaluation: the reducer is not used
  }
}

TEST_CASE("cuda Affine and fused affine+ReLU: NCHW and channels-last, equals the CPU", "[cuda][sanitize]") {
  require_device();
  for (bool cl : {false, true}) {
    for (bool off : {true, false}) {
      check_affine({2, 64, 28, 28}, off, cl);  // float4 paths
      check_affine({3, 5, 7, 9}, off, cl);     // scalar paths
      check_affine({16, 10}, off, cl);
    }
  }
}

TEST_CASE("cuda network: a residual graph (zero-padded shortcut, average pools), NCHW and channels-last",
          "[cuda][graph]") {
  require_device();
  const uint64_t seed = fresh_seed();
  Tensor<float> x = random_host({3, 2, 6, 6}), dout = random_host({3, 3});
  const ref::Residual r = ref::residual_net(seed, x, dout);
  Tensor<float, CUDA> xd = to_device(x), dd = to_device(dout);
  for (bool channels_last : {false, true}) {
    INFO((channels_last ? "channels-last" : "NCHW") << " seed " << seed);
    auto net = residual_net<float, CUDA>(seed);
    net->context().set_tf32(false);
    net->context().set_channels_last(channels_last);
    for (auto& np : net->params()) poison(np.param->grad, np.param->value.shape());
    // float32 convolutions against the double CPU network (kTolFloat32)
    CHECK(max_rel_error(to_host(net->forward(xd)), r.out) < kTolFloat32);
    CHECK(net->backward(dd) == net->size());
    const auto params = net->params();
    REQUIRE(params.size() == r.grads.size());
    for (size_t k = 0; k < params.size(); ++k) {
      INFO(params[k].name);
      CHECK(max_rel_error(to_host(params[k].param->grad), r.grads[k]) < kTolFloat32);
    }
  }
}
