// Row-major matrix products on the host: OpenBLAS's cblas_sgemm/dgemm where graft was
// configured with it (GRAFT_WITH_OPENBLAS, the default when Debian's libopenblas-dev is
// installed), Eigen's product otherwise.
//
// The whole CPU backend goes through gemm() so that the kernel is swapped at one place.
// C = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
//
// Threads: graft runs every parallel loop with OpenMP, so OpenBLAS is kept to one thread
// (openblas_set_num_threads(1), once, for the whole process) and gemm() splits a large
// product itself into one band of C per OpenMP thread. Two thread pools taking turns on
// the same cores (OpenBLAS's spinning workers against OpenMP's) would otherwise slow each
// other down, and the batched products of the Winograd convolution can run one matrix per
// thread (gemm_serial inside a parallel loop).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(GRAFT_WITH_OPENBLAS)
#include <cblas.h>
#endif

namespace graft {
namespace cpu {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MatMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

inline const char* gemm_library() {
#if defined(GRAFT_WITH_OPENBLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

namespace detail {

template <class T>
void gemm_eigen(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  MatMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  ConstMatMap<T> A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  ConstMatMap<T> B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  auto run = [&](const auto& opA, const auto& opB) {
    if (beta == T(0)) {
      C.noalias() = alpha * (opA * opB);
    } else {
      if (beta != T(1)) C *= beta;
      C.noalias() += alpha * (opA * opB);
    }
  };
  if (!trans_a && !trans_b) run(A, B);
  else if (trans_a && !trans_b) run(A.transpose(), B);
  else if (!trans_a && trans_b) run(A, B.transpose());
  else run(A.transpose(), B.transpose());
}

#if defined(GRAFT_WITH_OPENBLAS)
inline bool openblas_single_threaded() {
  static const bool once = (openblas_set_num_threads(1), true);
  return once;
}
inline void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
inline void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                 int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
#endif

}  // namespace detail

// One product on the calling thread only (call it from inside a parallel loop).
template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
#if defined(GRAFT_WITH_OPENBLAS)
  detail::openblas_single_threaded();
  detail::blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  // Eigen runs single-threaded when called from inside an OpenMP parallel region.
  detail::gemm_eigen(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

// op(A) is m x k, op(B) is k x n, C is m x n. Uses every OpenMP thread when called from
// outside a parallel region: C is cut into one band of rows (or of columns, whichever
// dimension is longer) per thread.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
#if defined(GRAFT_WITH_OPENBLAS) && defined(_OPENMP)
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool by_cols = n >= m;
  const int64_t len = by_cols ? n : m;
  // Bands of fewer than 32 rows or columns cost more in packing than they gain.
  const int parts = int(std::min<int64_t>(threads, len / 32));
  if (parts > 1 && double(m) * double(n) * double(k) > 1e6) {
#pragma omp parallel for schedule(static) num_threads(parts)
    for (int p = 0; p < parts; ++p) {
      const int64_t lo = len * p / parts, hi = len * (p + 1) / parts;
      if (by_cols)
        gemm_serial(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb,
                    beta, c + lo, ldc);
      else
        gemm_serial(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb,
                    beta, c + lo * ldc, ldc);
    }
    return;
  }
  gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  if (m == 0 || n == 0) return;
  if (k == 0) {
    gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  detail::gemm_eigen(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace cpu
}  // namespace graft
