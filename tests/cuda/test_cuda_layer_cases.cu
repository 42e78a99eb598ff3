// [cuda] "cuda: <case>": every layer case of tests/support/layer_cases.hpp, the CUDA layer
// against the CPU layer (tests/cuda/reference_cases.cpp) on the same random inputs, parameters,
// buffers and output gradient: y, every dx, every parameter gradient and every buffer after the
// forward. Each case runs
//   - in NCHW, and channels-last (NHWC storage, compared after host transposes) when every
//     input is 4-D;
//   - with FP32 math, and TF32 when the case says its result depends on it (case.tf32);
//   - with each implementation of the layer: Conv2d cuDNN, and graft's kernel for 3x3 windows
//     (not in channels-last mode, which it refuses); MaxPool2d, AvgPool2d and GlobalAvgPool2d
//     graft's kernels and cuDNN.
// Tolerances (max|got - want| / max|want|): exact cases compare with the CPU layer in float
// and must be equal (cuDNN's pooling: 1e-6, it may sum overlapping windows' terms in another
// order); the others compare with the CPU layer in double within case.tol.cuda_fp32 (1e-4) or
// case.tol.cuda_tf32 (3e-3). Outputs and gradients are poisoned (NaN) before each run. Inputs
// are drawn fresh each run (GRAFT_TEST_SEED replays one). An input whose gradient the case does
// not request (case.skip_dx) gets a null dx and must stay poisoned. Small cases are also [sanitize].
#include <cmath>

#include "cuda/reference_cases.hpp"
#include "cuda/support.hpp"
#include "support/case_registry.hpp"
#include "support/layer_cases.hpp"

using namespace graft;
using namespace graft::test;

namespace {

struct Variant {
  std::string name;
  std::function<void(Layer<float, CUDA>&)> apply;
  double tol_floor = 0.0;
};

// The implementations a layer has on the GPU.
std::vector<Variant> variants(Layer<float, CUDA>& l, bool channels_last) {
  if (auto* conv = dynamic_cast<Conv2d<float, CUDA>*>(&l)) {
    std::vector<Variant> v{{"cudnn", [](Layer<float, CUDA>& x) {
                              static_cast<Conv2d<float, CUDA>&>(x).plan().set_impl(ConvImpl::Cudnn);
                            }}};
    if (!channels_last && conv->window().kh == 3 && conv->window().kw == 3)
      v.push_back({"graft", [](Layer<float, CUDA>& x) {
                     static_cast<Conv2d<float, CUDA>&>(x).plan().set_impl(ConvImpl::Graft);
                   }});
    return v;
  }
  if (dynamic_cast<MaxPool2d<float, CUDA>*>(&l))
    return {{"graft", [](Layer<float, CUDA>& x) { static_cast<MaxPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Graft); }},
            {"cudnn", [](Layer<float, CUDA>& x) { static_cast<MaxPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Cudnn); },
             1e-6}};
  if (dynamic_cast<AvgPool2d<float, CUDA>*>(&l))
    return {{"graft", [](Layer<float, CUDA>& x) { static_cast<AvgPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Graft); }},
            {"cudnn", [](Layer<float, CUDA>& x) { static_cast<AvgPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Cudnn); }}};
  if (dynamic_cast<GlobalAvgPool2d<float, CUDA>*>(&l))
    return {{"graft", [](Layer<float, CUDA>& x) { static_cast<GlobalAvgPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Graft); }},
            {"cudnn", [](Layer<float, CUDA>& x) { static_cast<GlobalAvgPool2d<float, CUDA>&>(x).plan().set_impl(PoolImpl::Cudnn); }}};
  return {{"default", [](Layer<float, CUDA>&) {}}};
}

Tensor<float> stored(const Tensor<float>& t, bool channels_last) {
  return channels_last && t.shape().rank() == 4 ? to_nhwc(t) : clone(t);
}
Tensor<float> logical(const Tensor<float>& t, bool channels_last) {
  return channels_last && t.shape().rank() == 4 ? to_nchw(t) : clone(t);
}

void run_case(size_t index) {
  require_device();
  const auto cases = layer_cases<float, CUDA>();
  const LayerCase<float, CUDA>& c = cases[index];

  // Host inputs, parameters, buffers and dy, shared by every mode.
  std::vector<Tensor<float>> xs;
  for (const Shape& s : c.inputs) {
    xs.emplace_back(s);
    if (c.fill == InputFill::distinct)
      fill_distinct(xs.back(), fresh_seed());
    else
      fill_normal(xs.back(), fresh_seed());
  }
  std::vector<Tensor<float>> params, buffers;
  Shape ys;
  {
    Context<CUDA> ctx;
    auto l = c.make();
    ys = l->setup(c.inputs, ctx);
    for (auto* p : l->params()) params.push_back(random_host(p->value.shape(), c.param_scale));
    for (auto& b : l->buffers()) {
      buffers.emplace_back(b.tensor->shape());
      fill_uniform(buffers.back(), fresh_seed(), c.buffer_fill, 2 * c.buffer_fill);
    }
  }
  const Tensor<float> dy = random_host(ys);
  const ref::LayerRun want = ref::layer_case(c.name, c.exact, xs, params, buffers, dy);

  bool all4d = true;
  for (const Shape& s : c.inputs) all4d = all4d && s.rank() == 4;
  for (bool channels_last : {false, true}) {
    if (channels_last && !all4d) continue;
    for (bool tf32 : {false, true}) {
      if (tf32 && !c.tf32) continue;
      Context<CUDA> ctx;
      ctx.set_channels_last(channels_last);
      ctx.set_tf32(tf32);
      auto l = c.make();
      l->setup(c.inputs, ctx);
      l->set_training(c.training);
      const auto ps = l->params();
      const auto bs = l->buffers();
      REQUIRE(ps.size() == params.size());
      for (size_t i = 0; i < ps.size(); ++i) copy_from_host(params[i], ps[i]->value);
      for (size_t i = 0; i < bs.size(); ++i) copy_from_host(buffers[i], *bs[i].tensor);
      std::vector<Tensor<float, CUDA>> xd;
      std::vector<const Tensor<float, CUDA>*> xp;
      for (auto& x : xs) xd.push_back(to_device(stored(x, channels_last)));
      for (auto& x : xd) xp.push_back(&x);
      const Tensor<float, CUDA> dyd = to_device(stored(dy, channels_last));
      for (const Variant& v : variants(*l, channels_last)) {
        INFO(c.name << ": " << (channels_last ? "channels-last" : "NCHW") << (tf32 ? " TF32" : " FP32") << " impl "
                    << v.name);
        v.apply(*l);
        for (size_t i = 0; i < bs.size(); ++i) copy_from_host(buffers[i], *bs[i].tensor);  // as the CPU's started
        const double tol = c.exact ? v.tol_floor : std::max(v.tol_floor, tf32 ? c.tol.cuda_tf32 : c.tol.cuda_fp32);
        Tensor<float, CUDA> y;
        poison(y, ys);
        if (c.before_forward) c.before_forward(*l);
        l->forward_multi(xp, y);
        std::vector<Tensor<float, CUDA>> dx(xs.size());
        std::vector<Tensor<float, CUDA>*> dxp;
        for (size_t i = 0; i < dx.size(); ++i) {
          poison(dx[i], xs[i].shape());
          dxp.push_back((c.skip_dx >> i) & 1u ? nullptr : &dx[i]);
        }
        for (auto* p : ps) poison(p->grad, p->value.shape());
        l->backward_multi(xp, y, dyd, dxp);
        REQUIRE(y.shape() == want.y.shape());
        const double ey = max_rel_error(logical(to_host(y), channels_last), want.y);
        INFO("y error " << ey << " (tolerance " << tol << ")");
        CHECK(ey <= tol);
        for (size_t i = 0; i < dx.size(); ++i) {
          if (!dxp[i]) {  // not requested: still poisoned
            const Tensor<float> h = to_host(dx[i]);
            bool untouched = true;
            for (int64_t k = 0; k < h.size(); ++k) untouched = untouched && std::isnan(h[k]);
            INFO("dx" << i << " not requested, written anyway");
            CHECK(untouched);
            continue;
          }
          const double e = max_rel_error(logical(to_host(dx[i]), channels_last), want.dx[i]);
          INFO("dx" << i << " error " << e << " (tolerance " << tol << ")");
          CHECK(e <= tol);
        }
        for (size_t i = 0; i < bs.size(); ++i) {  // after the forward (running statistics)
          const double e = max_rel_error(to_host(*bs[i].tensor), want.buffers[i]);
          INFO("buffer " << bs[i].name << " error " << e << " (tolerance " << tol << ")");
          CHECK(e <= tol);
        }
        for (size_t i = 0; i < ps.size(); ++i) {
          if (!ps[i]->trainable) continue;
          const double e = max_rel_error(to_host(ps[i]->grad), want.dparams[i]);
          INFO("d" << ps[i]->name << " error " << e << " (tolerance " << tol << ")");
          CHECK(e <= tol);
        }
      }
    }
  }
}

const bool registered = [] {
  const auto cases = layer_cases<float, CUDA>();
  for (size_t i = 0; i < cases.size(); ++i)
    if (cases[i].checks & kCuda)
      register_case("cuda: " + cases[i].name, cases[i].sanitize ? "[cuda][layer_cases][sanitize]" : "[cuda][layer_cases]",
                    [i] { run_case(i); });
  return true;
}();

}  // namespace
