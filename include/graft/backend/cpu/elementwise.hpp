// Elementwise layers on the host: ReLU, sums (Add, the network's gradient sums, zero padding
// and cropping), inverted dropout.
#pragma once

#include <cstdint>

#include "graft/core/random.hpp"

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

template <class T>
void relu_forward(int64_t n, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// dx = dy where the output was positive (ReLU's derivative at 0 is taken as 0).
template <class T>
void relu_backward(int64_t n, const T* y, const T* dy, T* dx) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// dst += src: a second reader's gradient summed into a tensor's (nn::Network's backward).
template <class T>
void accumulate(int64_t n, const T* src, T* dst) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// y = a + b (the Add layer's two inputs of one shape).
template <class T>
void add(int64_t n, const T* a, const T* b, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// y = max(a + b, 0): a residual sum and its ReLU in one pass (NaN gives 0, as relu_forward).
template <class T>
void add_relu(int64_t n, const T* a, const T* b, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T s = a[i] + b[i];
    y[i] = s > T(0) ? s : T(0);
  }
}

// Zero padding anchored at index 0 between tensors of up to 4 axes given in storage order
// (sizes of missing trailing axes are 1); `small` fits inside `big` on every axis.
//   pad_add: big = (accumulate ? big : 0) + src zero-padded (src has the small sizes)
//   crop:    small = big's elements at the small sizes' indices
template <class T>
void pad_add(const int64_t small[4], const T* src, const int64_t big[4], T* dst, bool accumulate) {
  const int64_t rows = big[0] * big[1] * big[2];
#pragma omp parallel for schedule(static) if (rows * big[3] >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t a = r / (big[1] * big[2]), b = (r / big[2]) % big[1], c = r % big[2];
    T* d = dst + r * big[3];
    const bool inside = a < small[0] && b < small[1] && c < small[2];
    const T* s = src + ((a * small[1] + b) * small[2] + c) * small[3];
    const int64_t k = inside ? small[3] : 0;
    if (accumulate) {
      for (int64_t e = 0; e < k; ++e) d[e] += s[e];
    } else {
      for (int64_t e = 0; e < k; ++e) d[e] = s[e];
      for (int64_t e = k; e < big[3]; ++e) d[e] = T(0);
    }
  }
}
template <class T>
void crop(const int64_t big[4], const T* src, const int64_t small[4], T* dst) {
  const int64_t rows = small[0] * small[1] * small[2];
#pragma omp parallel for schedule(static) if (rows * small[3] >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t a = r / (small[1] * small[2]), b = (r / small[2]) % small[1], c = r % small[2];
    const T* s = src + ((a * big[1] + b) * big[2] + c) * big[3];
    T* d = dst + r * small[3];
    for (int64_t e = 0; e < small[3]; ++e) d[e] = s[e];
  }
}

// Element i is kept when uniform(stream, i) >= p and then scaled by 1/(1-p), so the mask
// is a pure function of (stream, i): backward recomputes it instead of storing it, and the
// CUDA kernel draws the same mask.
template <class T>
void dropout_apply(int64_t n, const T* in, T* out, float p, uint64_t stream) {
  const T scale = p < 1.0f ? T(1) / (T(1) - T(p)) : T(0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = random::uniform(stream, static_cast<uint64_t>(i)) >= p ? in[i] * scale : T(0);
}

// The same mask applied to max(in, 0) (a ReLU fused into the dropout after it): equal bit for
// bit to relu_forward then dropout_apply, in one pass.
template <class T>
void dropout_relu_apply(int64_t n, const T* in, T* out, float p, uint64_t stream) {
  const T scale = p < 1.0f ? T(1) / (T(1) - T(p)) : T(0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T r = in[i] > T(0) ? in[i] : T(0);
    out[i] = random::uniform(stream, static_cast<uint64_t>(i)) >= p ? r * scale : T(0);
  }
}

}  // namespace cpu
}  // namespace graft
