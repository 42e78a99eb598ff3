// Test inputs: seeded random values (never all zeros), and helpers to compare tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"

namespace graft {
namespace test {

template <class T>
void fill_normal(Tensor<T>& t, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  for (auto& v : t) v = static_cast<T>(scale * rng.normal());
}

template <class T>
void fill_uniform(Tensor<T>& t, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  for (auto& v : t) v = static_cast<T>(lo + (hi - lo) * rng.uniform());
}

// Distinct values away from zero: a random permutation of +-(0.05 + 0.01 k), so that max
// pooling has no ties and ReLU no input near its kink (a finite difference of 1e-6 never
// crosses either).
template <class T>
void fill_distinct(Tensor<T>& t, uint64_t seed) {
  Rng rng(seed);
  const int64_t n = t.size();
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<T>((0.05 + 0.01 * double(i)) * (i % 2 ? -1 : 1));
  for (int64_t i = n - 1; i > 0; --i) std::swap(t[i], t[static_cast<int64_t>(rng.below(uint64_t(i + 1)))]);
}

// max |a - b| / max(|b|_inf, floor): the error relative to the reference's scale.
template <class A, class B>
double max_rel_error(const Tensor<A>& a, const Tensor<B>& b, double floor = 1e-12) {
  double num = 0, den = floor;
  for (int64_t i = 0; i < b.size(); ++i) {
    double x = double(a[i]), y = double(b[i]);
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    num = std::max(num, std::abs(x - y));
    den = std::max(den, std::abs(y));
  }
  return num / den;
}

}  // namespace test
}  // namespace graft
