// Finite-difference gradient checks in double for any Layer<double, CPU>.
//
// The scalar checked is L = sum(y .* r) for a fixed random r, so dL/dy = r. Backward's
// dL/dx and dL/dp are compared with central differences (L(v+e) - L(v-e)) / 2e for every
// element of the input and of every trainable parameter.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

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
inline double grad_error(const Tensor<double>& analytic, const Tensor<double>& numeric) {
  double num = 0, den = 1e-8;
  for (int64_t i = 0; i < numeric.size(); ++i) {
    num = std::max(num, std::abs(analytic[i] - numeric[i]));
    den = std::max(den, std::abs(numeric[i]));
  }
  return num / den;
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
  auto numeric = [&](Tensor<double>& v) {
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
  };
  GradReport rep;
  rep.input = grad_error(dx, numeric(x));
  for (auto* p : layer.params()) {
    if (!p->trainable) continue;
    Tensor<double> analytic = clone(p->grad);
    rep.param[p->name] = grad_error(analytic, numeric(p->value));
  }
  return rep;
}

}  // namespace test
}  // namespace graft
