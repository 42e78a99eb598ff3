// Fully connected layers on cuBLAS. graft's matrices are row-major; cuBLAS's are
// column-major, and a row-major (r x c) matrix is the column-major (c x r) transpose, so
//   y  (n x out) = x W^T     is   y^T  = W x^T       : gemm(T, N, out, n, in,  W, x)
//   dx (n x in)  = dy W      is   dx^T = W^T dy^T    : gemm(N, N, in,  n, out, W, dy)
//   dW (out x in) = dy^T x   is   dW^T = x^T dy      : gemm(N, T, in, out, n,  x, dy)
// with every leading dimension the row length of the row-major matrix.
//
// In the context's bf16 mode (float layers) the two operands are rounded to bf16 into the
// context's bf16_scratch() and multiplied by cublasGemmEx with float32 accumulation and a
// float32 result (CUBLAS_COMPUTE_32F: tensor cores; no bf16 rounding of the output).
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "graft/backend/cuda/context.hpp"
#include "kernels/bias.cuh"
#include "kernels/convert.cuh"

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

// bf16 mode: column-major C (m x n, float) = op(A) op(B) with A (slot_a) and B (slot_b) rounded
// to bf16 first (a_count, b_count: their element counts).
inline void gemm_bf16(Context<CUDA>& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
                      int64_t lda, int64_t a_count, int slot_a, const float* b, int64_t ldb, int64_t b_count,
                      int slot_b, float* c, int64_t ldc, const char* what) {
  GRAFT_CHECK(m < (int64_t(1) << 31) && n < (int64_t(1) << 31) && k < (int64_t(1) << 31), ctx.scope(), ": ", what,
              " is too large for cuBLAS's 32-bit sizes");
  bf16* ab = ctx.bf16_scratch(slot_a, static_cast<size_t>(a_count));
  bf16* bb = ctx.bf16_scratch(slot_b, static_cast<size_t>(b_count));
  in_scope(ctx.scope(), [&] {
    kernels::to_bf16(a_count, a, ab, ctx.stream());
    kernels::to_bf16(b_count, b, bb, ctx.stream());
  });
  const float one = 1, zero = 0;
  const cublasStatus_t s =
      cublasGemmEx(ctx.cublas(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, int(m), int(n), int(k),
                   &one, ab, CUDA_R_16BF, int(lda), bb, CUDA_R_16BF, int(ldb), &zero, c, CUDA_R_32F, int(ldc),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  check(s, "cublasGemmEx (bf16)", ctx.scope() + (ctx.scope().empty() ? "" : ", ") + what);
}

// Whether this call runs in bf16 (float layers in a bf16 context; a double layer is refused).
template <class T>
bool linear_bf16(Context<CUDA>& ctx) {
  if (!ctx.bf16()) return false;
  GRAFT_CHECK((std::is_same<T, float>::value), ctx.scope(), ": bf16 precision needs float layers (this one is double)");
  return true;
}
inline const float* as_float(const float* p) { return p; }
inline float* as_float(float* p) { return p; }
inline const float* as_float(const double*) { return nullptr; }  // (never reached: linear_bf16 refuses double)
inline float* as_float(double*) { return nullptr; }

template <class T>
void linear_forward(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* w, const T* b, T* y) {
  if (n <= 0) return;
  if (linear_bf16<T>(ctx))
    gemm_bf16(ctx, true, false, out, n, in, as_float(w), in, out * in, 1, as_float(x), in, n * in, 0, as_float(y), out,
              "linear forward");
  else
    gemm<T>(ctx, true, false, out, n, in, w, in, x, in, y, out, "linear forward");
  if (b) in_scope(ctx.scope(), [&] { kernels::bias_add<T>(n, out, 1, y, b, ctx.stream()); });
}

template <class T>
void linear_backward_data(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* dy, const T* w, T* dx) {
  if (n <= 0) return;
  if (linear_bf16<T>(ctx))
    gemm_bf16(ctx, false, false, in, n, out, as_float(w), in, out * in, 1, as_float(dy), out, n * out, 2,
              as_float(dx), in, "linear backward data");
  else
    gemm<T>(ctx, false, false, in, n, out, w, in, dy, out, dx, in, "linear backward data");
}

template <class T>
void linear_backward_params(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* dy, T* dw,
                            T* db) {
  if (dw) {
    if (n > 0 && linear_bf16<T>(ctx))
      gemm_bf16(ctx, false, true, in, out, n, as_float(x), in, n * in, 0, as_float(dy), out, n * out, 2, as_float(dw),
                in, "linear backward weights");
    else if (n > 0)
      gemm<T>(ctx, false, true, in, out, n, x, in, dy, out, dw, in, "linear backward weights");
    else
      GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemsetAsync(dw, 0, size_t(in * out) * sizeof(T), ctx.stream()));
  }
  if (db)
    in_scope(ctx.scope(), [&] { kernels::bias_grad<T>(n, out, 1, dy, db, static_cast<T*>(nullptr), ctx.stream()); });
}

}  // namespace cuda
}  // namespace graft
