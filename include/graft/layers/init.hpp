// Parameter initialisation shared by the layers that learn.
//
// Scheme (documented for users): weights ~ N(0, 2 / fan_in) ("He" / Kaiming normal, the
// right scale for a ReLU network), biases 0. Values come from the counter-based generator
// seeded by hash(seed, layer name), so each layer's draw depends only on the seed and its
// name: adding a layer elsewhere does not change the others, and CPU and CUDA agree.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"

namespace graft {

template <class T, class D>
void init_he_normal(Tensor<T, D>& w, int64_t fan_in, uint64_t seed, const std::string& layer) {
  Tensor<T> host(w.shape());
  const uint64_t stream = random::bits(seed, random::hash(layer.c_str()));
  const double stddev = std::sqrt(2.0 / double(fan_in > 0 ? fan_in : 1));
  T* h = host.data();
  const int64_t n = host.size();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) h[i] = static_cast<T>(stddev * random::normal(stream, static_cast<uint64_t>(i)));
  copy_from_host(host, w);
}

template <class T, class D>
void init_constant(Tensor<T, D>& t, T value) {
  Tensor<T> host(t.shape(), value);
  copy_from_host(host, t);
}

}  // namespace graft
