// Fully connected layer on the host: y (n x out) = x (n x in) W^T + b, W stored (out x in).
#pragma once

#include <cstdint>

#include "graft/backend/cpu/gemm.hpp"

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

template <class T>
void linear_forward(int64_t n, int64_t in, int64_t out, const T* x, const T* w, const T* b, T* y) {
  if (b) {
#pragma omp parallel for schedule(static) if (n * out >= kParallelMin)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) y[i * out + j] = b[j];
  }
  gemm<T>(false, true, n, out, in, T(1), x, in, w, in, b ? T(1) : T(0), y, out);
}

// dx (n x in) = dy (n x out) W (out x in)
template <class T>
void linear_backward_data(int64_t n, int64_t in, int64_t out, const T* dy, const T* w, T* dx) {
  gemm<T>(false, false, n, in, out, T(1), dy, out, w, in, T(0), dx, in);
}

// dW (out x in) = dy^T x ; db = column sums of dy. Either output may be null.
template <class T>
void linear_backward_params(int64_t n, int64_t in, int64_t out, const T* x, const T* dy, T* dw,
                            T* db) {
  if (dw) gemm<T>(true, false, out, in, n, T(1), dy, out, x, in, T(0), dw, in);
  if (db) {
    for (int64_t j = 0; j < out; ++j) db[j] = T(0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) db[j] += dy[i * out + j];
  }
}

}  // namespace cpu
}  // namespace graft
