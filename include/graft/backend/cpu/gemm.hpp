// Row-major matrix products on the host through Eigen (threaded with OpenMP).
//
// The whole CPU backend goes through gemm() so that a faster kernel can be swapped in at
// one place. C = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
#pragma once

#include <Eigen/Core>

#include <cstdint>

namespace graft {
namespace cpu {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MatMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

inline const char* gemm_library() { return "eigen"; }

// op(A) is m x k, op(B) is k x n, C is m x n.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  MatMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (beta == T(0)) C.setZero(); else C *= beta;
    return;
  }
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

}  // namespace cpu
}  // namespace graft
