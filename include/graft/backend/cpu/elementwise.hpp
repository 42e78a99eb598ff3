// Elementwise layers on the host: ReLU and inverted dropout.
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

}  // namespace cpu
}  // namespace graft
