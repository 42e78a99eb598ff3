// The CPU side of test_cuda_layer_cases (see reference_cases.hpp).
#include "cuda/reference_cases.hpp"
#include "cuda/host_assign.hpp"

#include "graft/cpu.hpp"
#include "support/layer_cases.hpp"

namespace graft {
namespace test {
namespace ref {

namespace {
template <class T>
LayerRun run_case(const std::string& name, const std::vector<Tensor<float>>& xs,
                  const std::vector<Tensor<float>>& params, const std::vector<Tensor<float>>& buffers,
                  const Tensor<float>& dy) {
  for (const auto& c : layer_cases<T, CPU>()) {
    if (c.name != name) continue;
    Context<CPU> ctx;
    auto l = c.make();
    l->setup(c.inputs, ctx);
    l->set_training(c.training);
    const auto ps = l->params();
    const auto bs = l->buffers();
    GRAFT_CHECK(ps.size() == params.size() && bs.size() == buffers.size(), name, ": parameter count differs");
    for (size_t i = 0; i < ps.size(); ++i) assign(ps[i]->value, params[i]);
    for (size_t i = 0; i < bs.size(); ++i) assign(*bs[i].tensor, buffers[i]);
    std::vector<Tensor<T>> x(xs.size());
    std::vector<const Tensor<T>*> xp;
    for (size_t i = 0; i < xs.size(); ++i) {
      assign(x[i], xs[i]);
      xp.push_back(&x[i]);
    }
    Tensor<T> y, dyt;
    assign(dyt, dy);
    if (c.before_forward) c.before_forward(*l);
    l->forward_multi(xp, y);
    LayerRun r;
    for (auto& b : bs) {
      r.buffers.emplace_back();
      assign(r.buffers.back(), *b.tensor);
    }
    std::vector<Tensor<T>> dx(xs.size());
    std::vector<Tensor<T>*> dxp;
    for (auto& d : dx) dxp.push_back(&d);
    l->backward_multi(xp, y, dyt, dxp);
    assign(r.y, y);
    r.dx.resize(dx.size());
    for (size_t i = 0; i < dx.size(); ++i) assign(r.dx[i], dx[i]);
    for (auto* p : ps) {
      r.dparams.emplace_back();
      if (p->trainable) assign(r.dparams.back(), p->grad);
    }
    return r;
  }
  throw Error("no layer case named " + name);
}
}  // namespace

LayerRun layer_case(const std::string& name, bool in_float, const std::vector<Tensor<float>>& xs,
                    const std::vector<Tensor<float>>& params, const std::vector<Tensor<float>>& buffers,
                    const Tensor<float>& dy) {
  return in_float ? run_case<float>(name, xs, params, buffers, dy) : run_case<double>(name, xs, params, buffers, dy);
}

}  // namespace ref
}  // namespace test
}  // namespace graft
