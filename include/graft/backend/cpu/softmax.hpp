// Softmax with cross-entropy on the host, numerically stable (log-sum-exp with the row
// maximum subtracted).
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/core/error.hpp"

namespace graft {
namespace cpu {

// probs (n x k) = softmax(logits); returns the mean over the batch of -log p[label].
template <class T>
double softmax_xent_forward(int64_t n, int64_t k, const T* logits, const int32_t* labels,
                            T* probs) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* z = logits + i * k;
    T* p = probs + i * k;
    T m = z[0];
    for (int64_t j = 1; j < k; ++j) m = z[j] > m ? z[j] : m;
    T s = 0;
    for (int64_t j = 0; j < k; ++j) s += std::exp(z[j] - m);
    T lse = m + std::log(s);
    for (int64_t j = 0; j < k; ++j) p[j] = std::exp(z[j] - lse);
    if (labels) total += double(lse - z[labels[i]]);
  }
  return n ? total / double(n) : 0.0;
}

// dlogits = scale * (probs - onehot(labels)) / n
template <class T>
void softmax_xent_backward(int64_t n, int64_t k, const T* probs, const int32_t* labels, T scale,
                           T* dlogits) {
  const T f = scale / T(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j)
      dlogits[i * k + j] = f * (probs[i * k + j] - (j == labels[i] ? T(1) : T(0)));
}

}  // namespace cpu
}  // namespace graft
