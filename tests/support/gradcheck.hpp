// Finite-difference gradient checks in double for any Layer<double, CPU>.
//
// The scalar checked is L = sum(y .* r) for a fixed random r, so dL/dy = r. Backward's
// dL/dx and dL/dp are compared with central differences (L(v+e) - L(v-e)) / 2e for every
// element of the input and of every trainable parameter.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "graft/cpu.hpp"
#include "support/random_fill.hpp"

namespace graft {
namespace test {

struct GradReport {
  double input = 0;                     // max relative error of dL/dx
  std::map<std::string, double> param;  // same per trainable parameter
  double worst() const {
    double w = input;
    for (auto& kv : param) w = std::max(w, kv.second);
    return w;
  }
};

// err = max_i |a_i - n_i| / max(max_i |n_i|, 1e-8)
// A NaN on either side is an infinite error (std::max would pass over it).
inline double grad_error(const Tensor<double>& analytic, const Tensor<double>& numeric) {
  double num = 0, den = 1e-8;
  for (int64_t i = 0; i < numeric.size(); ++i) {
    if (std::isnan(analytic[i]) || std::isnan(numeric[i])) return std::numeric_limits<double>::infinity();
    num = std::max(num, std::abs(analytic[i] - numeric[i]));
    den = std::max(den, std::abs(numeric[i]));
  }
  return num / den;
}

// Central differences (loss(v+e) - loss(v-e)) / 2e of loss() for every element of v; each
// element is put back as it was.
inline Tensor<double> numeric_gradient(Tensor<double>& v, const std::function<double()>& loss, double eps = 1e-6) {
  Tensor<double> g(v.shape());
  for (int64_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + eps;
    const double up = loss();
    v[i] = keep - eps;
    const double down = loss();
    v[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

// Gradient outputs for backward_multi, poisoned (NaN) so that an element backward fails to
// write is caught: dxs[i] sized as xs[i], and every parameter's grad sized as its value. The
// pointers returned are &dxs[i], or null where skip(i) (that gradient is not requested).
template <class T>
std::vector<Tensor<T>*> poisoned_grads(Layer<T, CPU>& layer, const std::vector<Tensor<T>>& xs,
                                       std::vector<Tensor<T>>& dxs,
                                       const std::function<bool(size_t)>& skip = nullptr) {
  dxs.resize(xs.size());
  std::vector<Tensor<T>*> out;
  for (size_t i = 0; i < xs.size(); ++i) {
    dxs[i].resize(xs[i].shape());
    poison(dxs[i]);
    out.push_back(skip && skip(i) ? nullptr : &dxs[i]);
  }
  for (auto* p : layer.params()) {
    p->grad.resize(p->value.shape());
    poison(p->grad);
  }
  return out;
}

// `before_forward` runs before every forward (dropout uses it to replay one mask).
inline GradReport gradcheck(Layer<double, CPU>& layer, Tensor<double>& x, uint64_t seed,
                            const std::function<void()>& before_forward = [] {},
                            double eps = 1e-6) {
  Tensor<double> y, dx;
  before_forward();
  layer.forward(x, y);
  Tensor<double> r(y.shape());
  fill_normal(r, seed ^ 0x5eed);
  auto loss = [&]() {
    Tensor<double> yy;
    before_forward();
    layer.forward(x, yy);
    double s = 0;
    for (int64_t i = 0; i < yy.size(); ++i) s += yy[i] * r[i];
    return s;
  };
  // Poison every output so that an element backward fails to write is caught.
  dx.resize(x.shape());
  poison(dx);
  for (auto* p : layer.params()) {
    p->grad.resize(p->value.shape());
    poison(p->grad);
  }
  layer.backward(x, y, r, &dx);
  GradReport rep;
  rep.input = grad_error(dx, numeric_gradient(x, loss, eps));
  for (auto* p : layer.params()) {
    if (!p->trainable) continue;
    Tensor<double> analytic = clone(p->grad);
    rep.param[p->name] = grad_error(analytic, numeric_gradient(p->value, loss, eps));
  }
  return rep;
}

// The same for a layer with several inputs (forward_multi / backward_multi): one error per
// input, in input order, in GradReport::param as "input 0", "input 1", ... (no parameters:
// the layers with several inputs have none).
inline GradReport gradcheck_multi(Layer<double, CPU>& layer, std::vector<Tensor<double>>& xs, uint64_t seed,
                                  double eps = 1e-6) {
  std::vector<const Tensor<double>*> in;
  for (auto& x : xs) in.push_back(&x);
  Tensor<double> y;
  layer.forward_multi(in, y);
  Tensor<double> r(y.shape());
  fill_normal(r, seed ^ 0x5eed);
  auto loss = [&]() {
    Tensor<double> yy;
    layer.forward_multi(in, yy);
    double s = 0;
    for (int64_t i = 0; i < yy.size(); ++i) s += yy[i] * r[i];
    return s;
  };
  std::vector<Tensor<double>> dxs;
  layer.backward_multi(in, y, r, poisoned_grads(layer, xs, dxs));
  GradReport rep;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor<double> g = numeric_gradient(xs[k], loss, eps);
    double err = grad_error(dxs[k], g);
    for (int64_t i = 0; i < g.size(); ++i)
      if (std::isnan(dxs[k][i])) err = INFINITY;  // (grad_error's max would skip a NaN)
    rep.param["input " + std::to_string(k)] = err;
  }
  rep.input = rep.param.empty() ? 0 : rep.param.begin()->second;
  return rep;
}

}  // namespace test
}  // namespace graft
