// [emu] "emu: <case>": the CUDA kernels of graft's own (kernels/*.cuh) that a layer case's
// CUDA layer runs, compiled by the host compiler under tests/support/cuda_emu.hpp, on the case's
// shapes and against the case's CPU layer (Backend<CUDA> itself needs a GPU: cuDNN, cuBLAS).
// One runner per layer type, chosen by type():
//   ReLU       relu_forward/backward, aligned and one element off alignment: equal
//   Dropout    (training) the dropout kernel against the CPU's mask, aligned and misaligned: equal
//   MaxPool2d  maxpool_forward/backward, NCHW and NHWC: equal
//   Conv2d     3x3 windows: graft's convolution (forward, backward filter, backward data where
//              supported), TF32 within 4e-3 and 3xTF32 within 2e-5 of the CPU layer in double;
//              with a bias, the bias kernels cuDNN's path runs (bias_add, bias_relu, bias_grad;
//              bias_add_rows, bias_grad_rows for channels-last): add equal, gradients 1e-5
//   Flatten    the NHWC -> NCHW transposes of channels-last mode: equal
//   Affine     affine (y; dx = dy * scale) and channel_sums (dscale, doffset), NCHW and NHWC,
//              aligned and one element off: y, dx 1e-6, sums 1e-5
//   BatchNorm2d  fixed statistics only (evaluation, use_global_stats): the backward's
//              batch_norm_fold (equal), channel_sums (1e-5) and affine (dx 1e-6), NCHW and
//              NHWC; its forward and batch-statistics backward are cuDNN's (not emulable)
//   Add        add, accumulate, pad_add (zero_pad) and crop, NCHW and NHWC, aligned and one
//              element off: equal
//   AvgPool2d, GlobalAvgPool2d  avgpool_forward/backward, NCHW and NHWC: equal
//   LeakyRelu  leaky_relu_forward/backward: equal
//   PRelu      prelu_forward/backward (y, dx equal; dslope, a sum, 1e-5), NCHW and NHWC
//   Softmax    softmax_channels_forward/backward, NCHW and NHWC: 1e-6
// Kernel-path tests that need crafted data (ties, NaN, -inf, tiling, cp.async ordering) stay in
// test_kernels_emu.cpp. Buffers the kernels write are poisoned with NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "graft/cpu.hpp"
#include "support/case_registry.hpp"
#include "support/host_buffers.hpp"
#include "support/layer_cases.hpp"
#include "support/random_fill.hpp"

#include "support/cuda_emu.hpp"  // after the host headers: it defines CUDA's keywords as macros

#include "kernels/activation.cuh"
#include "kernels/add.cuh"
#include "kernels/affine.cuh"
#include "kernels/bias.cuh"
#include "kernels/conv.cuh"
#include "kernels/dropout.cuh"
#include "kernels/layout.cuh"
#include "kernels/pool.cuh"
#include "kernels/relu.cuh"
#include "kernels/softmax.cuh"

using namespace graft;
using test::LayerCase;
using test::as_tensor;
using test::Buf;
using test::max_rel_error;
using test::same;

namespace {

// The case's CPU layer in float with its random parameters, buffers, inputs and dy; forward
// and backward (a null dx where the case requests no gradient). x and dx are input 0's.
struct Run {
  Context<CPU> ctx;
  std::unique_ptr<Layer<float, CPU>> layer;
  std::vector<Tensor<float>> xs, dxs;
  Tensor<float> x, y, dy, dx;
};

void run_cpu(const LayerCase<float, CPU>& c, Run& r) {
  r.layer = c.make();
  r.layer->setup(c.inputs, r.ctx);
  r.layer->set_training(c.training);
  uint64_t seed = 31;
  for (auto* p : r.layer->params()) test::fill_normal(p->value, seed++, c.param_scale);
  for (auto& b : r.layer->buffers()) test::fill_uniform(*b.tensor, seed++, c.buffer_fill, 2 * c.buffer_fill);
  for (const Shape& s : c.inputs) {
    r.xs.emplace_back(s);
    if (c.fill == test::InputFill::distinct)
      test::fill_distinct(r.xs.back(), seed++);
    else
      test::fill_normal(r.xs.back(), seed++);
  }
  std::vector<const Tensor<float>*> xp;
  for (auto& x : r.xs) xp.push_back(&x);
  if (c.before_forward) c.before_forward(*r.layer);
  r.layer->forward_multi(xp, r.y);
  r.dy.resize(r.y.shape());
  test::fill_normal(r.dy, seed++);
  r.dxs.resize(r.xs.size());
  std::vector<Tensor<float>*> dxp;
  for (size_t i = 0; i < r.xs.size(); ++i) dxp.push_back((c.skip_dx >> i) & 1u ? nullptr : &r.dxs[i]);
  r.layer->backward_multi(xp, r.y, r.dy, dxp);
  r.x = clone(r.xs[0]);
  r.dx = clone(r.dxs[0]);
}

void emu_relu(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const int64_t n = r.x.size();
  for (int offset : {0, 1}) {
    INFO("offset " << offset);
    Buf<float> x(r.x, offset), dy(r.dy, offset), y(n, offset), dx(n, offset);
    kernels::relu_forward<float>(n, x.p, y.p, nullptr);
    kernels::relu_backward<float>(n, y.p, dy.p, dx.p, nullptr);
    CHECK(same(y.p, r.y));
    CHECK(same(dx.p, r.dx));
  }
}

void emu_dropout(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  auto& drop = static_cast<Dropout<float, CPU>&>(*r.layer);
  const float p = drop.probability();
  const int64_t n = r.x.size();
  // The mask stream is the layer's own (private); any stream id must give the CPU's mask.
  for (uint64_t stream : {uint64_t(987654321), random::bits(drop.seed(), 3)})
    for (int offset : {0, 1}) {
      INFO("stream " << stream << " offset " << offset);
      Tensor<float> want(r.x.shape());
      cpu::dropout_apply(n, r.x.data(), want.data(), p, stream);
      Buf<float> x(r.x, offset), y(n, offset);
      kernels::dropout<float>(n, x.p, y.p, p, 1.0f / (1.0f - p), stream, nullptr);
      CHECK(same(y.p, want));
      // with a ReLU fused in front (Network::fuse_relu): the two steps' values in one pass
      Tensor<float> rect(r.x.shape()), want_relu(r.x.shape()), cpu_relu(r.x.shape());
      cpu::relu_forward(n, r.x.data(), rect.data());
      cpu::dropout_apply(n, rect.data(), want_relu.data(), p, stream);
      cpu::dropout_relu_apply(n, r.x.data(), cpu_relu.data(), p, stream);
      CHECK(same(cpu_relu.data(), want_relu));
      Buf<float> yr(n, offset);
      kernels::dropout_relu<float>(n, x.p, yr.p, p, 1.0f / (1.0f - p), stream, nullptr);
      CHECK(same(yr.p, want_relu));
    }
}

void emu_maxpool(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const Window2d& win = static_cast<MaxPool2d<float, CPU>&>(*r.layer).window();
  const Shape& xs = r.x.shape();
  kernels::PoolShape s;
  s.planes = xs[0] * xs[1];
  s.h = int(xs[2]); s.w = int(xs[3]); s.oh = int(r.y.shape()[2]); s.ow = int(r.y.shape()[3]);
  s.kh = win.kh; s.kw = win.kw; s.sh = win.sh; s.sw = win.sw; s.ph = win.ph; s.pw = win.pw;
  {
    INFO("NCHW");
    Buf<float> x(r.x), dy(r.dy), y(r.y.size()), dx(r.x.size());
    kernels::maxpool_forward<float>(s, x.p, y.p, nullptr);
    kernels::maxpool_backward<float>(s, x.p, dy.p, dx.p, nullptr);
    CHECK(same(y.p, r.y));
    CHECK(same(dx.p, r.dx));
  }
  {
    INFO("NHWC");
    s.c = int(xs[1]);
    s.channels_last = true;
    Buf<float> x(test::to_nhwc(r.x)), dy(test::to_nhwc(r.dy)), y(r.y.size()), dx(r.x.size());
    kernels::maxpool_forward<float>(s, x.p, y.p, nullptr);
    kernels::maxpool_backward<float>(s, x.p, dy.p, dx.p, nullptr);
    CHECK(same(y.p, test::to_nhwc(r.y)));
    CHECK(same(dx.p, test::to_nhwc(r.dx)));
  }
}

void emu_conv(const LayerCase<float, CPU>& c) {
  // The reference: the same case in double with the same (float) values.
  Run r;
  run_cpu(c, r);
  auto& conv = static_cast<Conv2d<float, CPU>&>(*r.layer);
  const Window2d& win = conv.window();
  const Shape& xs = r.x.shape();
  const Shape& ys = r.y.shape();
  const int64_t n = xs[0], o = ys[1], plane = ys[2] * ys[3];
  const Tensor<float>& w = conv.weights.value;
  const bool bias = conv.has_bias();
  Context<CPU> ctx;
  Conv2d<double> ref("ref", xs[1], o, win, bias);
  ref.setup(xs, ctx);
  ref.weights.value = cast<double>(w);
  if (bias) ref.biases.value = cast<double>(conv.biases.value);
  const Tensor<double> xd = cast<double>(r.x), dyd = cast<double>(r.dy);
  Tensor<double> yd, dxd;
  ref.forward(xd, yd);
  ref.backward(xd, yd, dyd, &dxd);

  if (win.kh == 3 && win.kw == 3) {
    kernels::conv::Shape3x3 s;
    s.n = int(n); s.c = int(xs[1]); s.h = int(xs[2]); s.w = int(xs[3]);
    s.o = int(o); s.oh = int(ys[2]); s.ow = int(ys[3]);
    s.sh = win.sh; s.sw = win.sw; s.ph = win.ph; s.pw = win.pw;
    const int sms = 8;  // multiprocessors assumed by the backward-filter split
    for (bool exact : {false, true}) {
      INFO((exact ? "3xTF32" : "TF32"));
      const double tol = exact ? 2e-5 : 4e-3;  // 2^-11 per operand (TF32) against FP32-like
      Buf<float> y(r.y.size());
      kernels::conv::forward(s, r.x.data(), w.data(), bias ? conv.biases.value.data() : nullptr, y.p, exact, nullptr);
      CHECK(max_rel_error(as_tensor(y.p, ys), yd) < tol);
      Buf<float> dw(w.size()), partial(std::max<int64_t>(1, kernels::conv::backward_filter_scratch(s, sms)));
      kernels::conv::backward_filter(s, r.x.data(), r.dy.data(), dw.p, partial.p, sms, exact, nullptr);
      CHECK(max_rel_error(as_tensor(dw.p, w.shape()), ref.weights.grad) < tol);
      if (kernels::conv::backward_data_supported(s)) {
        Buf<float> dx(r.x.size()), wt(kernels::conv::backward_data_scratch(s));
        kernels::conv::backward_data(s, w.data(), r.dy.data(), dx.p, wt.p, exact, nullptr);
        CHECK(max_rel_error(as_tensor(dx.p, xs), dxd) < tol);
      }
    }
  }
  if (bias) {
    // cuDNN's path: the convolution without bias, then graft's bias kernels (NCHW and NHWC).
    const Tensor<float>& b = conv.biases.value;
    Tensor<float> y0(ys), want(ys), want_relu(ys);
    for (int64_t e = 0; e < y0.size(); ++e) {
      y0[e] = r.y[e] - b[(e / plane) % o];  // any values; want is computed from them
      want[e] = y0[e] + b[(e / plane) % o];
      want_relu[e] = want[e] > 0 ? want[e] : 0.0f;
    }
    Buf<float> y(y0), bs(b);
    kernels::bias_add<float>(n, o, plane, y.p, bs.p, nullptr);
    CHECK(same(y.p, want));
    std::copy(y0.begin(), y0.end(), y.p);
    kernels::bias_relu<float>(n, o, plane, y.p, bs.p, nullptr);
    CHECK(same(y.p, want_relu));
    Buf<float> db(o), partial(n * o);
    kernels::bias_grad<float>(n, o, plane, r.dy.data(), db.p, partial.p, nullptr);
    CHECK(max_rel_error(as_tensor(db.p, {o}), ref.biases.grad) < 1e-5);
    // channels-last: rows of o channels
    const int64_t rows = n * plane;
    Buf<float> yr(test::to_nhwc(y0));
    kernels::bias_add_rows<float>(rows, o, yr.p, bs.p, nullptr);
    CHECK(same(yr.p, test::to_nhwc(want)));
    const Tensor<float> dyn = test::to_nhwc(r.dy);
    Buf<float> dbr(o), pr(kernels::bias_grad_rows_scratch(rows, o));
    kernels::bias_grad_rows<float>(rows, o, dyn.data(), dbr.p, pr.p, nullptr);
    CHECK(max_rel_error(as_tensor(dbr.p, {o}), ref.biases.grad) < 1e-5);
  }
}

void emu_flatten(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const Shape& s = r.x.shape();
  REQUIRE(s.rank() == 4);
  const int64_t n = s[0], ch = s[1], hw = s[2] * s[3];
  // forward in channels-last mode: the NHWC input back to C,H,W order, which is the CPU's y
  Buf<float> x(test::to_nhwc(r.x)), y(r.y.size());
  kernels::nhwc_to_nchw<float>(n, ch, hw, x.p, y.p, nullptr);
  CHECK(same(y.p, r.y));
  // backward: dy (C,H,W order) to the NHWC storage of the CPU's dx
  Buf<float> dx(r.dx.size());
  kernels::nchw_to_nhwc<float>(n, ch, hw, r.dy.data(), dx.p, nullptr);
  CHECK(same(dx.p, test::to_nhwc(r.dx)));
}

// Affine's CUDA layer: affine (forward; backward dx = dy * scale) and channel_sums (dscale =
// sum dy * x, doffset = sum dy), NCHW and NHWC, aligned (float4 paths where the layout allows)
// and one element off (scalar). y and dx within 1e-6 (a compiler may fuse x * s + o into one
// FMA), the channel sums within 1e-5 (float here, double on the CPU).
void emu_affine(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  auto& aff = static_cast<Affine<float, CPU>&>(*r.layer);
  const Shape& xs = r.x.shape();
  const ChannelDims d = channel_dims(xs);
  const bool with_offset = aff.has_offset();
  const float* off = with_offset ? aff.offset.value.data() : nullptr;
  const float* sc = aff.scale.value.data();
  for (bool cl : {false, true}) {
    if (cl && xs.rank() != 4) continue;
    for (int offset : {0, 1}) {
      INFO((cl ? "NHWC" : "NCHW") << " buffer offset " << offset);
      auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
      Buf<float> x(stored(r.x), offset), dy(stored(r.dy), offset), y(r.y.size(), offset), dx(r.x.size(), offset);
      kernels::affine<float>(d.n, d.c, d.p, cl, x.p, sc, off, y.p, nullptr);
      CHECK(max_rel_error(as_tensor(y.p, xs), stored(r.y)) < 1e-6);
      Buf<float> ds(d.c), doff(d.c);
      kernels::channel_sums<float>(d.n, d.c, d.p, cl, x.p, dy.p, nullptr, nullptr, ds.p, with_offset ? doff.p : nullptr,
                                   nullptr);
      kernels::affine<float>(d.n, d.c, d.p, cl, dy.p, sc, nullptr, dx.p, nullptr);
      CHECK(max_rel_error(as_tensor(dx.p, xs), stored(r.dx)) < 1e-6);
      CHECK(max_rel_error(as_tensor(ds.p, {d.c}), aff.scale.grad) < 1e-5);
      if (with_offset) CHECK(max_rel_error(as_tensor(doff.p, {d.c}), aff.offset.grad) < 1e-5);
    }
  }
}

// BatchNorm2d with fixed statistics (evaluation, or use_global_stats while training): its
// forward is cuDNN's (not emulable), its backward graft's kernels: batch_norm_fold (with gamma
// 1, beta 0: a = invstd, b = -mean * invstd; with gamma: the scale of dx), channel_sums
// (dgamma = sum dy * (x * a + b), dbeta = sum dy) and affine (dx = dy * scale), NCHW and NHWC.
// The folds equal the CPU's (both in double, rounded once); dx within 1e-6, the sums 1e-5.
// Batch statistics (training) are cuDNN's forward and backward: no runner.
void emu_batch_norm(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  auto& bn = static_cast<BatchNorm2d<float, CPU>&>(*r.layer);
  const Shape& xs = r.x.shape();
  const ChannelDims d = channel_dims(xs);
  const float *gamma = bn.scale.value.data(), *mean = bn.running_mean.data(), *var = bn.running_var.data();
  Tensor<float> want_a(Shape{d.c}), want_b(Shape{d.c}), want_s(Shape{d.c}), want_unused(Shape{d.c});
  cpu::batch_norm_fold(d.c, static_cast<const float*>(nullptr), static_cast<const float*>(nullptr), mean, var,
                       bn.eps(), want_a.data(), want_b.data());
  cpu::batch_norm_fold(d.c, gamma, static_cast<const float*>(nullptr), mean, var, bn.eps(), want_s.data(),
                       want_unused.data());
  for (bool cl : {false, true}) {
    if (cl && xs.rank() != 4) continue;
    INFO((cl ? "NHWC" : "NCHW"));
    auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
    Buf<float> x(stored(r.x)), dy(stored(r.dy)), dx(r.x.size());
    Buf<float> a(d.c), b(d.c), scale(d.c), unused(d.c), dgamma(d.c), dbeta(d.c);
    kernels::batch_norm_fold<float>(d.c, nullptr, nullptr, mean, var, bn.eps(), a.p, b.p, nullptr);
    kernels::channel_sums<float>(d.n, d.c, d.p, cl, x.p, dy.p, a.p, b.p, dgamma.p, dbeta.p, nullptr);
    kernels::batch_norm_fold<float>(d.c, gamma, nullptr, mean, var, bn.eps(), scale.p, unused.p, nullptr);
    kernels::affine<float>(d.n, d.c, d.p, cl, dy.p, scale.p, nullptr, dx.p, nullptr);
    CHECK(same(a.p, want_a));
    CHECK(same(b.p, want_b));
    CHECK(same(scale.p, want_s));
    CHECK(max_rel_error(as_tensor(dx.p, xs), stored(r.dx)) < 1e-6);
    CHECK(max_rel_error(as_tensor(dgamma.p, {d.c}), bn.scale.grad) < 1e-5);
    CHECK(max_rel_error(as_tensor(dbeta.p, {d.c}), bn.offset.grad) < 1e-5);
  }
}

// The axes of a rank 1..4 tensor as the CUDA backend stores them (N, H, W, C channels-last).
kernels::Dims4 stored_dims(const Shape& s, bool cl) {
  kernels::Dims4 d;
  for (int i = 0; i < s.rank(); ++i) d.d[i] = s[i];
  if (cl) {
    d.d[1] = s[2];
    d.d[2] = s[3];
    d.d[3] = s[1];
  }
  return d;
}

// Add's CUDA layer: forward add (two inputs of the output's shape), accumulate (a further one)
// and pad_add (zero_pad: a smaller one, into or onto the output); backward a copy of dy or crop.
// NCHW and NHWC (channel padding innermost); buffers aligned and one element off. All equal
// the CPU's (the same float additions in the same order).
void emu_add(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const Shape out = r.y.shape();
  const int64_t n = out.numel();
  bool all4d = true;
  for (const auto& x : r.xs) all4d = all4d && x.shape().rank() == 4;
  for (bool cl : {false, true}) {
    if (cl && !all4d) continue;
    for (int offset : {0, 1}) {
      INFO((cl ? "NHWC" : "NCHW") << " buffer offset " << offset);
      auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
      std::vector<Buf<float>> x;
      x.reserve(r.xs.size());
      for (const auto& t : r.xs) x.emplace_back(stored(t), offset);
      Buf<float> y(n, offset), dy(stored(r.dy), offset);
      size_t i = 0;
      if (r.xs[0].shape() == out && r.xs[1].shape() == out) {
        kernels::add<float>(n, x[0].p, x[1].p, y.p, nullptr);
        i = 2;
      }
      for (; i < x.size(); ++i) {
        const Shape& s = r.xs[i].shape();
        if (s == out) {
          if (i == 0)
            std::copy(x[i].p, x[i].p + n, y.p);  // (cudaMemcpyAsync)
          else
            kernels::accumulate<float>(n, x[i].p, y.p, nullptr);
        } else {
          kernels::pad_add<float>(stored_dims(s, cl), x[i].p, stored_dims(out, cl), y.p, i > 0, nullptr);
        }
      }
      CHECK(same(y.p, stored(r.y)));
      for (size_t k = 0; k < x.size(); ++k) {
        if ((c.skip_dx >> k) & 1u) continue;  // (the CPU check sees that it stays untouched)
        const Shape& s = r.xs[k].shape();
        if (s == out) continue;  // a copy of dy (cudaMemcpyAsync)
        INFO("dx" << k);
        Buf<float> dx(s.numel(), offset);
        kernels::crop<float>(stored_dims(out, cl), dy.p, stored_dims(s, cl), dx.p, nullptr);
        CHECK(same(dx.p, stored(r.dxs[k])));
      }
    }
  }
}

// AvgPool2d and GlobalAvgPool2d (a window of the whole plane, padding counted: there is none):
// avgpool_forward/backward, NCHW and NHWC: equal (the CPU's order of additions and division).
void emu_avgpool(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const Shape& xs = r.x.shape();
  Window2d win{int(xs[2]), int(xs[3]), 1, 1, 0, 0, false};
  bool count_pad = true;
  if (auto* p = dynamic_cast<AvgPool2d<float, CPU>*>(r.layer.get())) {
    win = p->window();
    count_pad = p->count_pad();
  }
  kernels::PoolShape s;
  s.planes = xs[0] * xs[1];
  s.c = int(xs[1]);
  s.h = int(xs[2]); s.w = int(xs[3]); s.oh = int(r.y.shape()[2]); s.ow = int(r.y.shape()[3]);
  s.kh = win.kh; s.kw = win.kw; s.sh = win.sh; s.sw = win.sw; s.ph = win.ph; s.pw = win.pw;
  s.count_pad = count_pad;
  for (bool cl : {false, true}) {
    INFO((cl ? "NHWC" : "NCHW"));
    s.channels_last = cl;
    auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
    Buf<float> x(stored(r.x)), dy(stored(r.dy)), y(r.y.size()), dx(r.x.size());
    kernels::avgpool_forward<float>(s, x.p, y.p, nullptr);
    kernels::avgpool_backward<float>(s, x.p, dy.p, dx.p, nullptr);
    CHECK(same(y.p, stored(r.y)));
    CHECK(same(dx.p, stored(r.dx)));
  }
}

void emu_leaky_relu(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const float alpha = float(static_cast<LeakyRelu<float, CPU>&>(*r.layer).alpha());
  const int64_t n = r.x.size();
  Buf<float> x(r.x), dy(r.dy), y(n), dx(n);
  kernels::leaky_relu_forward<float>(n, alpha, x.p, y.p, nullptr);
  kernels::leaky_relu_backward<float>(n, alpha, x.p, dy.p, dx.p, nullptr);
  CHECK(same(y.p, r.y));
  CHECK(same(dx.p, r.dx));
}

void emu_prelu(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  auto& pr = static_cast<PRelu<float, CPU>&>(*r.layer);
  const Shape& xs = r.x.shape();
  const ChannelDims d = channel_dims(xs);
  const int64_t slopes = pr.slope.value.size();
  for (bool cl : {false, true}) {
    if (cl && xs.rank() != 4) continue;
    INFO((cl ? "NHWC" : "NCHW"));
    auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
    Buf<float> x(stored(r.x)), dy(stored(r.dy)), y(r.y.size()), dx(r.x.size()), ds(slopes);
    kernels::prelu_forward<float>(d.n, d.c, d.p, cl, pr.shared(), x.p, pr.slope.value.data(), y.p, nullptr);
    kernels::prelu_backward<float>(d.n, d.c, d.p, cl, pr.shared(), x.p, dy.p, pr.slope.value.data(), dx.p, ds.p,
                                   nullptr);
    CHECK(same(y.p, stored(r.y)));
    CHECK(same(dx.p, stored(r.dx)));
    CHECK(max_rel_error(as_tensor(ds.p, {slopes}), pr.slope.grad) < 1e-5);
  }
}

void emu_softmax(const LayerCase<float, CPU>& c) {
  Run r;
  run_cpu(c, r);
  const Shape& xs = r.x.shape();
  const ChannelDims d = channel_dims(xs);
  for (bool cl : {false, true}) {
    if (cl && xs.rank() != 4) continue;
    INFO((cl ? "NHWC" : "NCHW"));
    auto stored = [&](const Tensor<float>& t) { return cl ? test::to_nhwc(t) : clone(t); };
    Buf<float> x(stored(r.x)), dy(stored(r.dy)), y(r.y.size()), dx(r.x.size());
    kernels::softmax_channels_forward<float>(d.n, d.c, d.p, cl, x.p, y.p, nullptr);
    kernels::softmax_channels_backward<float>(d.n, d.c, d.p, cl, y.p, dy.p, dx.p, nullptr);
    CHECK(max_rel_error(as_tensor(y.p, xs), stored(r.y)) < 1e-6);
    CHECK(max_rel_error(as_tensor(dx.p, xs), stored(r.dx)) < 1e-6);
  }
}

using Runner = void (*)(const LayerCase<float, CPU>&);

// A case takes part when its layer runs graft kernels in the configuration it describes.
Runner runner(const LayerCase<float, CPU>& c) {
  const auto layer = c.make();
  const std::string type = layer->type();
  if (type == "ReLU") return emu_relu;
  if (type == "Dropout") return c.training ? emu_dropout : nullptr;  // evaluation: a copy
  if (type == "MaxPool2d") return emu_maxpool;
  if (type == "Conv2d") return emu_conv;
  if (type == "Flatten") return c.inputs.at(0).rank() == 4 ? emu_flatten : nullptr;
  if (type == "Affine") return emu_affine;
  if (type == "BatchNorm2d") {  // batch statistics: cuDNN only
    const bool global = static_cast<BatchNorm2d<float, CPU>&>(*layer).use_global_stats();
    return !c.training || global ? emu_batch_norm : nullptr;
  }
  if (type == "Add") return emu_add;
  if (type == "AvgPool2d" || type == "GlobalAvgPool2d") return emu_avgpool;
  if (type == "LeakyRelu") return emu_leaky_relu;
  if (type == "PRelu") return emu_prelu;
  if (type == "Softmax") return emu_softmax;
  return nullptr;
}

// Layer types whose CUDA code is library calls only (cuBLAS).
const std::set<std::string> kLibraryOnly = {"Linear"};
// Layer types with a runner above. BatchNorm2d's covers its graft kernels only (fixed
// statistics: the backward's folds, channel sums and affine map); its forward and its
// batch-statistics backward are cuDNN's, checked against the CPU by test_cuda_layer_cases.
const std::set<std::string> kWithRunner = {"ReLU",   "Dropout",     "MaxPool2d", "Conv2d",   "Flatten",
                                           "Affine", "BatchNorm2d", "Add",       "AvgPool2d", "GlobalAvgPool2d",
                                           "LeakyRelu", "PRelu",     "Softmax"};

const bool registered = [] {
  const auto cases = test::layer_cases<float, CPU>();
  for (size_t i = 0; i < cases.size(); ++i)
    if ((cases[i].checks & test::kEmu) && runner(cases[i]))
      test::register_case("emu: " + cases[i].name, "[emu][layer_cases]", [i] {
        const auto cs = test::layer_cases<float, CPU>();
        runner(cs[i])(cs[i]);
      });
  return true;
}();

}  // namespace

TEST_CASE("layer cases: every layer type has an emulator runner, runs library code only, or is listed",
          "[emu][layer_cases]") {
  for (const auto& c : test::layer_cases<float, CPU>()) {
    const std::string type = c.make()->type();
    INFO(c.name << " (" << type << "): add a runner in tests/test_layer_cases_emu.cpp");
    CHECK((kWithRunner.count(type) + kLibraryOnly.count(type)) == 1);
  }
}
