// Optimizer updates on the host, elementwise over one parameter tensor. The CUDA backend
// has the same two functions as fused kernels (kernels/optim.cuh).
//
// Semantics are PyTorch's (torch.optim.SGD / torch.optim.Adam with L2 weight decay added
// to the gradient); `lr` and `weight_decay` already include the parameter's multipliers.
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

// g' = g + wd*w; buf = momentum*buf + g'; w -= lr * (nesterov ? g' + momentum*buf : buf)
// (with momentum 0: w -= lr * g'; buf is not touched and may be null)
template <class T>
void sgd_update(int64_t n, T* w, const T* g, T* buf, float lr, float momentum,
                float weight_decay, bool nesterov) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i] + T(weight_decay) * w[i];
    if (momentum != 0.0f) {
      buf[i] = T(momentum) * buf[i] + d;
      d = nesterov ? d + T(momentum) * buf[i] : buf[i];
    }
    w[i] -= T(lr) * d;
  }
}

// step counts from 1. m, v start at 0.
// g' = g + wd*w; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
// w -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
template <class T>
void adam_update(int64_t n, T* w, const T* g, T* m, T* v, float lr, float beta1, float beta2,
                 float eps, float weight_decay, int64_t step) {
  const double c1 = 1.0 - std::pow(double(beta1), double(step));
  const double c2 = 1.0 - std::pow(double(beta2), double(step));
  const T step_size = T(double(lr) / c1), inv_sqrt_c2 = T(1.0 / std::sqrt(c2));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T d = g[i] + T(weight_decay) * w[i];
    m[i] = T(beta1) * m[i] + T(1 - beta1) * d;
    v[i] = T(beta2) * v[i] + T(1 - beta2) * d * d;
    w[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + T(eps));
  }
}

}  // namespace cpu
}  // namespace graft
