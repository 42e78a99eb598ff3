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
// Kernel-path tests that need crafted data (ties, NaN, -inf, tiling, cp.async ordering) stay in
// test_kernels_emu.cpp. Buffers the kernels write are poisoned with NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "graft/cpu.hpp"
#include "support/case_registry.hpp"
#include "support/layer_cases.hpp"
#include "support/random_fill.hpp"

#include "support/cuda_emu.hpp"  // after the host headers: it defines CUDA's keywords as macros

#include "kernels/bias.cuh"
#include "kernels/conv.cuh"
#include "kernels/dropout.cuh"
#include "kernels/layout.cuh"
#include "kernels/pool.cuh"
#include "kernels/relu.cuh"

using namespace graft;
using test::LayerCase;
using test::max_rel_error;

namespace {

// A host buffer with room for a misaligned view (offset elements), poisoned with NaN.
template <class T>
struct Buf {
  std::vector<T> store;
  T* p;
  explicit Buf(int64_t n, int offset = 0) : store(size_t(n + 16), std::numeric_limits<T>::quiet_NaN()) {
    T* base = store.data();
    while (reinterpret_cast<uintptr_t>(base) % 32) ++base;
    p = base + offset;
  }
  Buf(const Tensor<T>& t, int offset = 0) : Buf(t.size(), offset) { std::copy(t.begin(), t.end(), p); }
};

template <class T>
Tensor<T> as_tensor(const T* p, const Shape& s) {
  Tensor<T> t(s);
  std::copy(p, p + s.numel(), t.data());
  return t;
}

// Equal element for element (a NaN equal to a NaN, a zero's sign included).
bool same(const float* got, const Tensor<float>& want) {
  for (int64_t i = 0; i < want.size(); ++i) {
    const float a = got[i], b = want[i];
    if (!((std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b)))) return false;
  }
  return true;
}

Tensor<float> nhwc(const Tensor<float>& x) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  Tensor<float> y(s);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * hw + q) * c + ch] = x[(i * c + ch) * hw + q];
  return y;
}

// The case's CPU layer in float with its random parameters, input and dy; forward and backward.
struct Run {
  Context<CPU> ctx;
  std::unique_ptr<Layer<float, CPU>> layer;
  Tensor<float> x, y, dy, dx;
};

void run_cpu(const LayerCase<float, CPU>& c, Run& r) {
  r.layer = c.make();
  r.layer->setup(c.inputs, r.ctx);
  r.layer->set_training(c.training);
  uint64_t seed = 31;
  for (auto* p : r.layer->params()) test::fill_normal(p->value, seed++, c.param_scale);
  r.x.resize(c.inputs.at(0));
  if (c.fill == test::InputFill::distinct)
    test::fill_distinct(r.x, seed++);
  else
    test::fill_normal(r.x, seed++);
  if (c.before_forward) c.before_forward(*r.layer);
  r.layer->forward(r.x, r.y);
  r.dy.resize(r.y.shape());
  test::fill_normal(r.dy, seed++);
  r.layer->backward(r.x, r.y, r.dy, &r.dx);
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
    Buf<float> x(nhwc(r.x)), dy(nhwc(r.dy)), y(r.y.size()), dx(r.x.size());
    kernels::maxpool_forward<float>(s, x.p, y.p, nullptr);
    kernels::maxpool_backward<float>(s, x.p, dy.p, dx.p, nullptr);
    CHECK(same(y.p, nhwc(r.y)));
    CHECK(same(dx.p, nhwc(r.dx)));
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
    Buf<float> yr(nhwc(y0));
    kernels::bias_add_rows<float>(rows, o, yr.p, bs.p, nullptr);
    CHECK(same(yr.p, nhwc(want)));
    const Tensor<float> dyn = nhwc(r.dy);
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
  Buf<float> x(nhwc(r.x)), y(r.y.size());
  kernels::nhwc_to_nchw<float>(n, ch, hw, x.p, y.p, nullptr);
  CHECK(same(y.p, r.y));
  // backward: dy (C,H,W order) to the NHWC storage of the CPU's dx
  Buf<float> dx(r.dx.size());
  kernels::nchw_to_nhwc<float>(n, ch, hw, r.dy.data(), dx.p, nullptr);
  CHECK(same(dx.p, nhwc(r.dx)));
}

using Runner = void (*)(const LayerCase<float, CPU>&);

// A case takes part when its layer runs graft kernels in the configuration it describes.
Runner runner(const LayerCase<float, CPU>& c) {
  const std::string type = c.make()->type();
  if (type == "ReLU") return emu_relu;
  if (type == "Dropout") return c.training ? emu_dropout : nullptr;  // evaluation: a copy
  if (type == "MaxPool2d") return emu_maxpool;
  if (type == "Conv2d") return emu_conv;
  if (type == "Flatten") return c.inputs.at(0).rank() == 4 ? emu_flatten : nullptr;
  return nullptr;
}

// Layer types whose CUDA code is library calls only (cuBLAS) and the layout kernels Flatten's
// runner checks.
const std::set<std::string> kLibraryOnly = {"Linear"};
// Layer types whose graft kernels are checked under the emulator by test_kernels_emu on shapes
// of their own, with no runner here yet (kernels/affine.cuh: the affine maps, channel sums and
// batch-norm folding, cuDNN doing the batch statistics; kernels/add.cuh; average pooling).
const std::set<std::string> kCheckedInKernelsEmu = {"Affine", "BatchNorm2d", "Add", "AvgPool2d", "GlobalAvgPool2d"};
const std::set<std::string> kWithRunner = {"ReLU", "Dropout", "MaxPool2d", "Conv2d", "Flatten"};

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
    CHECK((kWithRunner.count(type) + kLibraryOnly.count(type) + kCheckedInKernelsEmu.count(type)) == 1);
  }
}
