// Turning CUDA, cuDNN and cuBLAS status codes into graft::Error.
//
// Every call into the three libraries goes through one of the GRAFT_*_CHECK macros, so a
// failure says which call failed, with which status, and (where the caller knows it) in
// which layer: "conv1_1 (Conv2d): cudnnConvolutionForward(...) failed: CUDNN_STATUS_...".
//
// Kernel launches are checked right after the launch by kernels::check_launch (bad
// configuration, too many resources). A kernel that faults while running is reported by the
// next call that waits for it; set GRAFT_CUDA_SYNC=1 to wait after every launch instead, so
// that the fault names its kernel.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdlib>
#include <string>

#include "graft/core/error.hpp"

#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
// Memory<CUDA> copies on the legacy default stream and relies on its implicit ordering with
// the blocking streams of Context<CUDA> (see memory.hpp); a per-thread default stream breaks it.
#error "graft's CUDA backend needs the legacy default stream (do not build with --default-stream per-thread)"
#endif

namespace graft {
namespace cuda {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_(unknown)";
  }
}

inline std::string scoped(const std::string& scope) { return scope.empty() ? std::string() : scope + ": "; }

inline void check(cudaError_t e, const char* call, const std::string& scope = std::string()) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so that later checks do not report it again
  GRAFT_FAIL(scoped(scope), call, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}
inline void check(cudnnStatus_t s, const char* call, const std::string& scope = std::string()) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  GRAFT_FAIL(scoped(scope), call, " failed: ", cudnnGetErrorString(s));
}
inline void check(cublasStatus_t s, const char* call, const std::string& scope = std::string()) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  GRAFT_FAIL(scoped(scope), call, " failed: ", cublas_status_name(s));
}

// Runs f, which launches graft's kernels (their launchers raise graft::Error naming the
// kernel), and puts the running layer's name in front of such an error.
template <class F>
void in_scope(const std::string& scope, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (scope.empty()) throw;
    throw Error(scope + ": " + e.what());
  }
}

// The number of usable devices; 0 when there is none or no working driver (any error).
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace cuda
}  // namespace graft

// Checks one library call (CUDA runtime, cuDNN or cuBLAS: the status type picks the message).
#define GRAFT_CUDA_CHECK(call) ::graft::cuda::check((call), #call)
// The same, naming where it happened (a layer's "name (Type)").
#define GRAFT_CUDA_CHECK_IN(scope, call) ::graft::cuda::check((call), #call, (scope))
