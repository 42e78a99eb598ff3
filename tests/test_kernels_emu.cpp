// graft's CUDA kernels (kernels/*.cuh) run on the host by tests/support/cuda_emu.hpp and
// compared with the CPU backend. This runs everywhere (no GPU, no nvcc) and checks what can go
// wrong before timing matters: indexing, tails and masks, vector and scalar paths, tiling of
// the convolution (partial tiles, padding, stride, split reductions), barriers and cp.async
// ordering, TF32 rounding. The same kernels are checked on a real GPU by tests/cuda/.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "graft/cpu.hpp"
#include "support/host_buffers.hpp"
#include "support/random_fill.hpp"

#include "support/cuda_emu.hpp"  // after the host headers: it defines CUDA's keywords as macros

#include "kernels/affine.cuh"
#include "kernels/add.cuh"
#include "kernels/bias.cuh"
#include "kernels/conv.cuh"
#include "kernels/dropout.cuh"
#include "kernels/layout.cuh"
#include "kernels/optim.cuh"
#include "kernels/pool.cuh"
#include "kernels/relu.cuh"
#include "kernels/softmax.cuh"

using namespace graft;
using test::as_tensor;
using test::Buf;
using test::fill_normal;
using test::max_rel_error;
using test::same;

namespace {

Tensor<float> random_tensor(const Shape& s, uint64_t seed, double scale = 1.0) {
  Tensor<float> t(s);
  fill_normal(t, seed, scale);
  return t;
}

}  // namespace

// ReLU, dropout and the NCHW bias kernels run on every layer case's shapes in
// test_layer_cases_emu.cpp.

TEST_CASE("emulated kernels: max pooling forward and backward equal the CPU's", "[emu]") {
  struct Case {
    int64_t n, c, h, w;
    Window2d win;
    int offset;                               // elements off 32-byte alignment of x, y, dy, dx
    const char* forward_path, *backward_path;  // the kernels that must run
  };
  const Case cases[] = {
      {2, 3, 8, 8, {2, 2, 2, 2, 0, 0, false}, 0, "2x2 pairs", "2x2 pairs"},   // VGG's pool
      {2, 2, 9, 12, {2, 2, 2, 2, 0, 0, false}, 0, "2x2 pairs", "2x2 pairs"},  // odd h: last row in no window
      {2, 3, 8, 8, {2, 2, 2, 2, 0, 0, false}, 1, "gather", "disjoint"},       // misaligned: scalar kernels
      {2, 1, 5, 5, {2, 2, 2, 2, 0, 0, false}, 0, "gather", "disjoint"},       // odd size: last row and column
      {1, 3, 6, 6, {2, 2, 2, 2, 0, 0, false}, 0, "gather", "disjoint"},       // w % 4 != 0
      {1, 2, 10, 11, {3, 3, 3, 3, 0, 0, false}, 0, "gather", "disjoint"},     // 3x3/3: one column left over
      {1, 2, 7, 8, {2, 2, 2, 2, 0, 0, true}, 0, "gather", "disjoint"},        // ceil mode: cut last window row
      {2, 2, 6, 9, {2, 3, 2, 3, 0, 0, false}, 0, "gather", "disjoint"},       // rectangular disjoint windows
      {1, 2, 7, 9, {3, 3, 2, 2, 1, 1, true}, 0, "gather", "gather"},          // overlapping, padded, ceil mode
      {1, 2, 6, 6, {3, 2, 1, 2, 1, 0, false}, 0, "gather", "gather"},         // rectangular window, mixed stride
      {1, 2, 8, 8, {2, 2, 2, 2, 1, 1, false}, 0, "gather", "gather"},         // 2x2/2 but padded
  };
  Context<CPU> ctx;
  for (const Case& cs : cases) {
    INFO("pool " << cs.n << "x" << cs.c << "x" << cs.h << "x" << cs.w << " " << cs.win.str()
                 << (cs.win.ceil_mode ? " ceil" : "") << " offset " << cs.offset);
    ConvGeometry g;
    g.n = cs.n; g.c = cs.c; g.h = cs.h; g.w = cs.w; g.o = cs.c;
    g.oh = cs.win.out_h(cs.h); g.ow = cs.win.out_w(cs.w); g.win = cs.win;
    const Shape xs{g.n, g.c, g.h, g.w}, ys{g.n, g.c, g.oh, g.ow};
    Tensor<float> x(xs), dy = random_tensor(ys, 17), y(ys), dx(xs);
    test::fill_distinct(x, 16);
    // ties (the first maximum wins), NaNs (they win their window), -infinity, signed zeros
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    x[0] = x[1] = 100.0f;             // a tie of the plane's first window row
    x[g.w] = x[g.w + 1] = 100.0f;     // ... and of its second row: four equal maxima
    x[3] = x[4];                      // a tie somewhere else
    x[2 * g.w + 3] = nan;             // a NaN in the middle of a window
    x[g.h * g.w + g.w + 1] = nan;     // a NaN after the window's maximum (plane 1)
    x[g.h * g.w] = 1000.0f;
    x[g.h * g.w + 1] = nan;           // two NaNs in one window: the first wins
    x[g.h * g.w + g.w] = nan;
    const int64_t last = xs.numel() - 1;  // the last plane's bottom-right window: all -inf
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t q = 0; q < 3; ++q) x[last - r * g.w - q] = -inf;
    dy[1] = -0.0f;
    cpu::PoolPlan<float> plan;
    plan.setup(ctx, g);
    plan.forward(g, x.data(), y.data());
    plan.backward(g, x.data(), y.data(), dy.data(), dx.data());
    kernels::PoolShape s;
    s.planes = g.n * g.c; s.h = int(g.h); s.w = int(g.w); s.oh = int(g.oh); s.ow = int(g.ow);
    s.kh = cs.win.kh; s.kw = cs.win.kw; s.sh = cs.win.sh; s.sw = cs.win.sw; s.ph = cs.win.ph; s.pw = cs.win.pw;
    Buf<float> xk(xs.numel(), cs.offset), dyk(ys.numel(), cs.offset), yk(ys.numel(), cs.offset),
        dxk(xs.numel(), cs.offset);  // outputs poisoned with NaN
    std::copy(x.begin(), x.end(), xk.p);
    std::copy(dy.begin(), dy.end(), dyk.p);
    // (forward has the pairs kernel and the general one)
    CHECK((kernels::maxpool_path(s, xk.p, yk.p) == kernels::PoolPath::Pairs2x2) ==
          (std::string(cs.forward_path) == "2x2 pairs"));
    CHECK(std::string(kernels::to_string(kernels::maxpool_path(s, xk.p, dyk.p, dxk.p))) == cs.backward_path);
    kernels::maxpool_forward<float>(s, xk.p, yk.p, nullptr);
    kernels::maxpool_backward<float>(s, xk.p, dyk.p, dxk.p, nullptr);
    CHECK(same(yk.p, y));
    CHECK(same(dxk.p, dx));
  }
  // double: the scalar kernels (the pairs kernel is float only)
  {
    ConvGeometry g;
    g.n = 2; g.c = 2; g.h = 9; g.w = 8; g.o = 2; g.win = {2, 2, 2, 2, 0, 0, false};
    g.oh = g.win.out_h(g.h); g.ow = g.win.out_w(g.w);
    Tensor<double> x(Shape{g.n, g.c, g.h, g.w}), dy(Shape{g.n, g.c, g.oh, g.ow}), y(dy.shape()), dx(x.shape());
    test::fill_distinct(x, 18);
    test::fill_normal(dy, 19);
    cpu::PoolPlan<double> plan;
    plan.forward(g, x.data(), y.data());
    plan.backward(g, x.data(), y.data(), dy.data(), dx.data());
    kernels::PoolShape s;
    s.planes = 4; s.h = 9; s.w = 8; s.oh = int(g.oh); s.ow = int(g.ow); s.kh = s.kw = s.sh = s.sw = 2;
    Buf<double> yk(y.size()), dxk(dx.size());
    CHECK(kernels::maxpool_path(s, x.data(), dy.data(), dxk.p) == kernels::PoolPath::Disjoint);
    kernels::maxpool_forward<double>(s, x.data(), yk.p, nullptr);
    kernels::maxpool_backward<double>(s, x.data(), dy.data(), dxk.p, nullptr);
    CHECK(max_rel_error(as_tensor(yk.p, y.shape()), y) == 0.0);
    CHECK(max_rel_error(as_tensor(dxk.p, dx.shape()), dx) == 0.0);
  }
}

namespace {

// Host transposes of a (n, c, hw) batch: NCHW <-> NHWC.
template <class T>
Tensor<T> host_nhwc(const Tensor<T>& x) {
  const int64_t n = x.shape()[0], c = x.shape()[1], hw = x.size() / (n * c);
  Tensor<T> y(x.shape());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * hw + q) * c + ch] = x[(i * c + ch) * hw + q];
  return y;
}
template <class T>
Tensor<T> host_nchw(const T* x, const Shape& s) {
  const int64_t n = s[0], c = s[1], hw = s.numel() / (n * c);
  Tensor<T> y(s);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * c + ch) * hw + q] = x[(i * hw + q) * c + ch];
  return y;
}

}  // namespace

TEST_CASE("emulated kernels: NCHW <-> NHWC transposes, and weights KCRS <-> KRSC", "[emu]") {
  for (const Shape& sh : {Shape{2, 5, 7, 9}, Shape{1, 40, 6, 7}, Shape{3, 3, 1, 1}, Shape{1, 33, 1, 35}}) {
    INFO("shape " << sh.str());
    const int64_t n = sh[0], c = sh[1], hw = sh[2] * sh[3];
    Tensor<float> x = random_tensor(sh, 41);
    Buf<float> a(x.size()), b(x.size());
    kernels::nchw_to_nhwc<float>(n, c, hw, x.data(), a.p, nullptr);
    CHECK(same(a.p, host_nhwc(x)));
    kernels::nhwc_to_nchw<float>(n, c, hw, a.p, b.p, nullptr);
    CHECK(same(b.p, x));
    // a convolution's weights (k, c, r, s) are a batch of k (c, r*s) matrices: KRSC = "NHWC"
    kernels::transpose<float>(n, c, hw, x.data(), a.p, nullptr);
    CHECK(same(a.p, host_nhwc(x)));
  }
}

TEST_CASE("emulated kernels: max pooling on NHWC data equals the CPU's on NCHW", "[emu]") {
  struct Case {
    int64_t n, c, h, w;
    Window2d win;
    kernels::PoolPath backward_path;
  };
  const Case cases[] = {
      {2, 3, 8, 8, {2, 2, 2, 2, 0, 0, false}, kernels::PoolPath::Disjoint},    // VGG's pool
      {2, 5, 5, 7, {2, 2, 2, 2, 0, 0, false}, kernels::PoolPath::Disjoint},    // odd: last row and column
      {1, 3, 7, 8, {2, 2, 2, 2, 0, 0, true}, kernels::PoolPath::Disjoint},     // ceil mode: cut last row
      {2, 8, 8, 8, {2, 2, 2, 2, 0, 0, false}, kernels::PoolPath::Channels4},   // c % 4 == 0: float4 kernels
      {1, 4, 7, 9, {2, 2, 2, 2, 0, 0, true}, kernels::PoolPath::Channels4},    // ... ceil mode, odd width
      {2, 12, 5, 5, {2, 2, 2, 2, 0, 0, false}, kernels::PoolPath::Channels4},  // ... last row and column
      {1, 8, 7, 9, {3, 3, 2, 2, 1, 1, true}, kernels::PoolPath::Gather},       // float4 forward, gather backward
      {1, 2, 10, 11, {3, 3, 3, 3, 0, 0, false}, kernels::PoolPath::Disjoint},  // 3x3/3
      {1, 3, 7, 9, {3, 3, 2, 2, 1, 1, true}, kernels::PoolPath::Gather},       // overlapping, padded, ceil
      {2, 2, 6, 6, {3, 2, 1, 2, 1, 0, false}, kernels::PoolPath::Gather},      // rectangular, mixed stride
  };
  Context<CPU> ctx;
  for (const Case& cs : cases) {
    INFO("NHWC pool " << cs.n << "x" << cs.c << "x" << cs.h << "x" << cs.w << " " << cs.win.str());
    ConvGeometry g;
    g.n = cs.n; g.c = cs.c; g.h = cs.h; g.w = cs.w; g.o = cs.c;
    g.oh = cs.win.out_h(cs.h); g.ow = cs.win.out_w(cs.w); g.win = cs.win;
    const Shape xs{g.n, g.c, g.h, g.w}, ys{g.n, g.c, g.oh, g.ow};
    Tensor<float> x(xs), dy = random_tensor(ys, 43), y(ys), dx(xs);
    test::fill_distinct(x, 42);
    x[0] = x[1] = x[g.w] = x[g.w + 1] = 100.0f;  // four equal maxima
    x[g.h * g.w + 1] = std::numeric_limits<float>::quiet_NaN();  // two NaNs in a window: the first wins
    x[g.h * g.w + g.w] = std::numeric_limits<float>::quiet_NaN();
    x[xs.numel() - 1] = -std::numeric_limits<float>::infinity();
    cpu::PoolPlan<float> plan;
    plan.forward(g, x.data(), y.data());
    plan.backward(g, x.data(), y.data(), dy.data(), dx.data());
    kernels::PoolShape s;
    s.planes = g.n * g.c; s.h = int(g.h); s.w = int(g.w); s.oh = int(g.oh); s.ow = int(g.ow);
    s.kh = cs.win.kh; s.kw = cs.win.kw; s.sh = cs.win.sh; s.sw = cs.win.sw; s.ph = cs.win.ph; s.pw = cs.win.pw;
    s.c = int(g.c);
    s.channels_last = true;
    const Tensor<float> xn = host_nhwc(x), dyn = host_nhwc(dy);
    Buf<float> yk(ys.numel()), dxk(xs.numel());
    CHECK(kernels::maxpool_path(s, xn.data(), dyn.data(), dxk.p) == cs.backward_path);
    CHECK((kernels::maxpool_path(s, xn.data(), yk.p) == kernels::PoolPath::Channels4) == (g.c % 4 == 0));
    kernels::maxpool_forward<float>(s, xn.data(), yk.p, nullptr);
    kernels::maxpool_backward<float>(s, xn.data(), dyn.data(), dxk.p, nullptr);
    CHECK(same(host_nchw(yk.p, ys).data(), y));
    CHECK(same(host_nchw(dxk.p, xs).data(), dx));
  }
}

TEST_CASE("emulated kernels: channels-last bias add and bias gradient", "[emu]") {
  for (int64_t o : {8, 5, 1}) {
    for (int64_t rows : {int64_t(3), int64_t(70), int64_t(3001)}) {
      INFO("rows " << rows << " o " << o);
      const int64_t total = rows * o;
      Tensor<float> y0 = random_tensor({total}, 44), b = random_tensor({o}, 45);
      Tensor<float> want(Shape{total});
      Tensor<double> db_ref(Shape{o}, 0.0);
      for (int64_t e = 0; e < total; ++e) {
        want[e] = y0[e] + b[e % o];
        db_ref[e % o] += y0[e];
      }
      if (rows < 1000) {  // (the emulator runs a block's threads as host threads: keep launches small)
        Buf<float> ys(total), bs(o);
        std::copy(y0.begin(), y0.end(), ys.p);
        std::copy(b.begin(), b.end(), bs.p);
        kernels::bias_add_rows<float>(rows, o, ys.p, bs.p, nullptr);
        CHECK(same(ys.p, want));
      }
      Buf<float> db(o), partial(kernels::bias_grad_rows_scratch(rows, o));
      kernels::bias_grad_rows<float>(rows, o, y0.data(), db.p, partial.p, nullptr);
      CHECK(max_rel_error(as_tensor(db.p, {o}), db_ref) < 1e-5);
    }
  }
}

TEST_CASE("emulated kernels: softmax cross-entropy forward and backward", "[emu]") {
  for (int64_t k : {2, 3, 70}) {
    const int64_t n = 9;
    Tensor<float> z = random_tensor({n, k}, 18, 3.0);
    Tensor<int32_t> labels(Shape{n});
    for (int64_t i = 0; i < n; ++i) labels[i] = int32_t((i * 7) % k);
    Tensor<float> probs(Shape{n, k}), dz(Shape{n, k});
    const double loss = cpu::softmax_xent_forward(n, k, z.data(), labels.data(), probs.data());
    cpu::softmax_xent_backward(n, k, probs.data(), labels.data(), 0.5f, dz.data());
    Buf<float> pk(n * k), rl(n), dk(n * k);
    kernels::softmax_xent_forward<float>(n, k, z.data(), labels.data(), pk.p, rl.p, nullptr);
    kernels::softmax_xent_backward<float>(n, k, pk.p, labels.data(), 0.5f / float(n), dk.p, nullptr);
    double l = 0;
    for (int64_t i = 0; i < n; ++i) l += rl.p[i];
    CHECK(l / double(n) == Approx(loss).epsilon(1e-5));
    CHECK(max_rel_error(as_tensor(pk.p, {n, k}), probs) < 1e-5);
    CHECK(max_rel_error(as_tensor(dk.p, {n, k}), dz) < 1e-5);
  }
}

TEST_CASE("emulated kernels: SGD (momentum, Nesterov) and Adam updates", "[emu]") {
  const int64_t n = 1001;
  for (int offset : {0, 1}) {
    Tensor<float> w = random_tensor({n}, 19), g = random_tensor({n}, 20), buf = random_tensor({n}, 21);
    Tensor<float> m = random_tensor({n}, 22, 0.1), v(Shape{n});
    test::fill_uniform(v, 23, 0.01, 1.0);
    for (bool nesterov : {false, true}) {
      Buf<float> wk(n, offset), bk(n, offset);
      std::copy(w.begin(), w.end(), wk.p);
      std::copy(buf.begin(), buf.end(), bk.p);
      Tensor<float> wc = clone(w), bc = clone(buf);
      cpu::sgd_update(n, wc.data(), g.data(), bc.data(), 0.1f, 0.9f, 1e-3f, nesterov);
      kernels::sgd_update<float>(n, wk.p, g.data(), bk.p, 0.1f, 0.9f, 1e-3f, nesterov, nullptr);
      CHECK(max_rel_error(as_tensor(wk.p, {n}), wc) < 1e-6);
      CHECK(max_rel_error(as_tensor(bk.p, {n}), bc) < 1e-6);
    }
    Buf<float> wk(n, offset), mk(n, offset), vk(n, offset);
    std::copy(w.begin(), w.end(), wk.p);
    std::copy(m.begin(), m.end(), mk.p);
    std::copy(v.begin(), v.end(), vk.p);
    Tensor<float> wc = clone(w), mc = clone(m), vc = clone(v);
    cpu::adam_update(n, wc.data(), g.data(), mc.data(), vc.data(), 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f, 3);
    kernels::adam_update<float>(n, wk.p, g.data(), mk.p, vk.p, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f, 3, nullptr);
    CHECK(max_rel_error(as_tensor(wk.p, {n}), wc) < 1e-6);
    CHECK(max_rel_error(as_tensor(mk.p, {n}), mc) < 1e-6);
    CHECK(max_rel_error(as_tensor(vk.p, {n}), vc) < 1e-6);
  }
}

namespace {

struct ConvCase {
  int n, c, h, w, o, stride, pad;
  int sms;  // multiprocessors assumed by the backward-filter split (small: few splits)
};

// The double-precision CPU convolution: y, dx, dw for random x, w, b, dy.
struct ConvRef {
  Tensor<double> y, dx, dw;
};

ConvRef cpu_conv(const ConvGeometry& g, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
                 const Tensor<float>& dy) {
  Context<CPU> ctx;
  cpu::ConvPlan<double> plan;
  plan.setup(ctx, g);
  Tensor<double> xd = cast<double>(x), wd = cast<double>(w), bd = cast<double>(b), dyd = cast<double>(dy);
  ConvRef r;
  r.y.resize(Shape{g.n, g.o, g.oh, g.ow});
  r.dx.resize(Shape{g.n, g.c, g.h, g.w});
  r.dw.resize(w.shape());
  plan.forward(g, xd.data(), wd.data(), bd.data(), r.y.data());
  plan.backward_data(g, wd.data(), dyd.data(), r.dx.data());
  plan.backward_filter(g, xd.data(), dyd.data(), r.dw.data());
  return r;
}

void check_conv(const ConvCase& cs, bool exact, bool eager) {
  INFO("conv n=" << cs.n << " c=" << cs.c << " " << cs.h << "x" << cs.w << " o=" << cs.o << " stride "
                 << cs.stride << " pad " << cs.pad << (exact ? " 3xTF32" : " TF32")
                 << (eager ? " eager copies" : " lazy copies"));
  emu::set_eager_copies(eager);
  ConvGeometry g;
  g.n = cs.n; g.c = cs.c; g.h = cs.h; g.w = cs.w; g.o = cs.o;
  g.win = Window2d{3, 3, cs.stride, cs.stride, cs.pad, cs.pad, false};
  g.oh = g.win.out_h(g.h); g.ow = g.win.out_w(g.w);
  Tensor<float> x = random_tensor({g.n, g.c, g.h, g.w}, 31), w = random_tensor({g.o, g.c, 3, 3}, 32, 0.2),
                b = random_tensor({g.o}, 33), dy = random_tensor({g.n, g.o, g.oh, g.ow}, 34);
  const ConvRef ref = cpu_conv(g, x, w, b, dy);

  kernels::conv::Shape3x3 s;
  s.n = cs.n; s.c = cs.c; s.h = cs.h; s.w = cs.w; s.o = cs.o; s.oh = int(g.oh); s.ow = int(g.ow);
  s.sh = s.sw = cs.stride; s.ph = s.pw = cs.pad;
  // 2^-11 relative rounding of each operand (TF32) against FP32-like accuracy (3xTF32)
  const double tol = exact ? 2e-5 : 4e-3;

  Buf<float> y(ref.y.size());
  kernels::conv::forward(s, x.data(), w.data(), b.data(), y.p, exact, nullptr);
  CHECK(max_rel_error(as_tensor(y.p, ref.y.shape()), ref.y) < tol);

  Buf<float> dw(ref.dw.size()), partial(std::max<int64_t>(1, kernels::conv::backward_filter_scratch(s, cs.sms)));
  kernels::conv::backward_filter(s, x.data(), dy.data(), dw.p, partial.p, cs.sms, exact, nullptr);
  CHECK(max_rel_error(as_tensor(dw.p, ref.dw.shape()), ref.dw) < tol);

  if (kernels::conv::backward_data_supported(s)) {
    Buf<float> dx(ref.dx.size()), wt(kernels::conv::backward_data_scratch(s));
    kernels::conv::backward_data(s, w.data(), dy.data(), dx.p, wt.p, exact, nullptr);
    CHECK(max_rel_error(as_tensor(dx.p, ref.dx.shape()), ref.dx) < tol);
  } else {
    Buf<float> dx(ref.dx.size()), wt(kernels::conv::backward_data_scratch(s));
    CHECK_THROWS_WITH(kernels::conv::backward_data(s, w.data(), dy.data(), dx.p, wt.p, exact, nullptr),
                      Catch::Contains("stride 1"));
  }
}

}  // namespace

TEST_CASE("emulated kernels: 3x3 convolution, forward and both backward passes", "[emu]") {
  const ConvCase cases[] = {
      {2, 3, 10, 9, 5, 1, 1, 132},    // conv1_1-like: R = 27 (scalar A loads, partial step), o < 16
      {2, 16, 8, 8, 130, 1, 1, 132},  // 128-row tiles with a partial second tile, 16-byte A loads
      {1, 8, 9, 11, 16, 2, 0, 132},   // stride 2, no padding (backward data: not supported)
      {3, 4, 6, 6, 64, 1, 2, 4},      // padding 2; few "multiprocessors": a single split
      {2, 32, 7, 7, 24, 1, 1, 132},   // 7x7 planes: fragments straddle images; many splits
      {2, 32, 16, 16, 192, 1, 1, 8},  // several tiles in both dimensions, 18 reduction steps
  };
  for (const ConvCase& cs : cases)
    for (bool exact : {false, true}) check_conv(cs, exact, false);
  // cp.async copies landing at issue: a missing barrier before refilling a stage shows here
  check_conv(cases[1], false, true);
  check_conv(cases[4], true, true);
}

TEST_CASE("emulated kernels: the backward-filter split covers the reduction exactly", "[emu]") {
  kernels::conv::Shape3x3 s;
  s.n = 64; s.c = 64; s.h = s.w = s.oh = s.ow = 224; s.o = 64;
  const auto f = kernels::conv::filter_split(s, 132);
  const int64_t R = int64_t(s.n) * s.oh * s.ow;
  CHECK(f.splits > 1);
  CHECK(f.chunk % kernels::conv::kBK == 0);
  CHECK(int64_t(f.splits) * f.chunk >= R);
  CHECK(int64_t(f.splits - 1) * f.chunk < R);  // no empty split
}

// The affine map, channel sums and batch-norm folding Affine and BatchNorm2d run are checked on
// their layer cases in test_layer_cases_emu.cpp; the fused affine+ReLU (BatchNorm2d folded
// into an Affine before a ReLU) is not a layer of the table.
TEST_CASE("emulated kernels: fused affine+ReLU, NCHW and NHWC", "[emu]") {
  // (2, 8, 4, 4): the float4 paths of both layouts; (3, 5, 3, 3): scalar only; (6, 4): an
  // (n, C) batch. Offset 1 misaligns the buffers (scalar path). Tolerance 1e-6: a compiler may
  // fuse x * s + o into one FMA, one rounding fewer than the CPU's.
  for (const Shape& sh : {Shape{2, 8, 4, 4}, Shape{3, 5, 3, 3}, Shape{6, 4}}) {
    for (int offset : {0, 1}) {
      for (bool with_offset : {true, false}) {
        const ChannelDims d = channel_dims(sh);
        INFO("shape " << sh.str() << " buffer offset " << offset << (with_offset ? " with" : " without") << " offset");
        Tensor<float> x = random_tensor(sh, 61);
        Tensor<float> sc = random_tensor({d.c}, 63), of = random_tensor({d.c}, 64, 0.5);
        const float* off = with_offset ? of.data() : nullptr;
        Tensor<float> want_relu(sh);
        cpu::affine_forward(d.n, d.c, d.p, x.data(), sc.data(), off, want_relu.data(), true);
        int64_t zeros = 0;
        for (float v : want_relu) zeros += v == 0.0f;
        CHECK(zeros > 0);  // the ReLU clips somewhere...
        CHECK(zeros < want_relu.size());  // ...not everywhere
        for (bool nhwc : {false, true}) {
          if (nhwc && sh.rank() != 4) continue;
          INFO((nhwc ? "NHWC" : "NCHW"));
          const Tensor<float> xs = nhwc ? host_nhwc(x) : clone(x);
          Buf<float> xb(x.size(), offset), yb(x.size(), offset);
          std::copy(xs.begin(), xs.end(), xb.p);
          kernels::affine_relu<float>(d.n, d.c, d.p, nhwc, xb.p, sc.data(), off, yb.p, nullptr);
          const Tensor<float> got = nhwc ? host_nchw(yb.p, sh) : as_tensor(yb.p, sh);
          CHECK(max_rel_error(got, want_relu) < 1e-6);
        }
      }
    }
  }
}

namespace {
kernels::PoolShape pool_shape(const ConvGeometry& g, bool channels_last, bool count_pad) {
  kernels::PoolShape s;
  s.planes = g.n * g.c; s.h = int(g.h); s.w = int(g.w); s.oh = int(g.oh); s.ow = int(g.ow);
  s.kh = g.win.kh; s.kw = g.win.kw; s.sh = g.win.sh; s.sw = g.win.sw; s.ph = g.win.ph; s.pw = g.win.pw;
  s.c = int(g.c);
  s.channels_last = channels_last;
  s.count_pad = count_pad;
  return s;
}
}  // namespace

// Average pooling against the CPU on every AvgPool2d and GlobalAvgPool2d layer case:
// test_layer_cases_emu.cpp. Here the divisors themselves.
TEST_CASE("emulated kernels: average pooling divides by the counts PyTorch uses", "[emu]") {
  // on a known input (not only compared with the CPU): all ones,
  // 3x3/2 pad 1, ceil, 4x4 -> 3x3. The first window covers rows/cols -1..1: 2x2 input elements
  // of 9 counted. The last covers rows/cols 3..5, which runs past the padded input (..4):
  // PyTorch counts 2x2 of it, 1 input element.
  ConvGeometry g;
  g.n = 1; g.c = 1; g.h = 4; g.w = 4; g.o = 1; g.win = {3, 3, 2, 2, 1, 1, true};
  g.oh = g.win.out_h(4); g.ow = g.win.out_w(4);
  REQUIRE(g.oh == 3);
  Tensor<float> ones(Shape{1, 1, 4, 4}, 1.0f);
  Buf<float> a(9), b(9);
  kernels::avgpool_forward<float>(pool_shape(g, false, true), ones.data(), a.p, nullptr);
  kernels::avgpool_forward<float>(pool_shape(g, false, false), ones.data(), b.p, nullptr);
  CHECK(a.p[0] == 4.0f / 9.0f);
  CHECK(a.p[8] == 1.0f / 4.0f);
  CHECK(b.p[0] == 1.0f);
  CHECK(b.p[8] == 1.0f);
}

// add, accumulate, pad_add and crop run on every Add layer case in test_layer_cases_emu.cpp.
TEST_CASE("emulated kernels: fused add+ReLU equals the CPU's", "[emu]") {
  for (int offset : {0, 1}) {
    INFO("offset " << offset);
    const int64_t n = 1003;  // a tail after the float4s
    Tensor<float> a = random_tensor({n}, 61), b = random_tensor({n}, 62), yr(Shape{n});
    cpu::add_relu(n, a.data(), b.data(), yr.data());
    Buf<float> ak(n, offset), bk(n, offset), yrk(n, offset);
    std::copy(a.begin(), a.end(), ak.p);
    std::copy(b.begin(), b.end(), bk.p);
    kernels::add_relu<float>(n, ak.p, bk.p, yrk.p, nullptr);
    CHECK(same(yrk.p, yr));
  }
}
