// Fully connected layers on cuBLAS. graft's matrices are row-major; cuBLAS's are
// column-major, and a row-major (r x c) matrix is the column-major (c x r) transpose, so
//   y  (n x out) = x W^T     is   y^T  = W x^T       : gemm(T, N, out, n, in,  W, x)
//   dx (n x in)  = dy W      is   dx^T = W^T dy^T    : gemm(N, N, in,  n, out, W, dy)
//   dW (out x in) = dy^T x   is   dW^T = x^T dy      : gemm(N, T, in, out, n,  x, dy)
// with every leading dimension the row length of the row-major matrix.
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <string>

#include "graft/backend/cuda/context.hpp"
#include "kernels/bias.cuh"

namespace graft {
namespace cuda {

inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                const float* alpha, const float* a, int lda, const float* b, int ldb,
                                const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                const double* alpha, const double* a, int lda, const double* b, int ldb,
                                const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Column-major C (m x n) = op(A) op(B), on the context's stream and math mode.
template <class T>
void gemm(Context<CUDA>& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
          const T* b, int64_t ldb, T* c, int64_t ldc, const char* what) {
  GRAFT_CHECK(m < (int64_t(1) << 31) && n < (int64_t(1) << 31) && k < (int64_t(1) << 31), ctx.scope(), ": ", what,
              " is too large for cuBLAS's 32-bit sizes");
  const T one = 1, zero = 0;
  const cublasStatus_t s = gemm_call(ctx.cublas(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     int(m), int(n), int(k), &one, a, int(lda), b, int(ldb), &zero, c, int(ldc));
  check(s, sizeof(T) == 4 ? "cublasSgemm" : "cublasDgemm", ctx.scope() + (ctx.scope().empty() ? "" : ", ") + what);
}

template <class T>
void linear_forward(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* w, const T* b, T* y) {
  if (n <= 0) return;
  gemm<T>(ctx, true, false, out, n, in, w, in, x, in, y, out, "linear forward");
  if (b) in_scope(ctx.scope(), [&] { kernels::bias_add<T>(n, out, 1, y, b, ctx.stream()); });
}

template <class T>
void linear_backward_data(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* dy, const T* w, T* dx) {
  if (n <= 0) return;
  gemm<T>(ctx, false, false, in, n, out, w, in, dy, out, dx, in, "linear backward data");
}

template <class T>
void linear_backward_params(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* dy, T* dw,
                            T* db) {
  if (dw) {
    if (n > 0)
      gemm<T>(ctx, false, true, in, out, n, x, in, dy, out, dw, in, "linear backward weights");
    else
      GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemsetAsync(dw, 0, size_t(in * out) * sizeof(T), ctx.stream()));
  }
  if (db)
    in_scope(ctx.scope(), [&] { kernels::bias_grad<T>(n, out, 1, dy, db, static_cast<T*>(nullptr), ctx.stream()); });
}

}  // namespace cuda
}  // namespace graft
