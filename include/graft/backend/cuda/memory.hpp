// Memory<CUDA>: device memory for Tensor<T, CUDA>, from plain cudaMalloc (never managed
// memory), released with cudaFree.
//
// Ordering: these copies and fills run on the legacy default stream. The legacy stream waits
// for all work already queued on blocking streams, and later work on those streams waits for
// it; Context<CUDA> creates its stream blocking. So Tensor's copy(), copy_to_host,
// copy_from_host and zero() are correctly ordered with a network's kernels without explicit
// synchronisation, and copy_to_host returns when the data is on the host. (Layers copy on the
// network's own stream with Backend<CUDA>::copy, which does not wait for other streams.)
// cudaFree waits for the whole device, so releasing or growing a tensor is safe too.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "graft/backend/cuda/check.hpp"
#include "graft/core/device.hpp"
#include "graft/core/tensor.hpp"

namespace graft {

template <>
struct Memory<CUDA> {
  static void* allocate(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      GRAFT_FAIL("cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
    }
    return p;
  }
  static void release(void* p) noexcept {
    if (p) cudaFree(p);  // an error here (a dead context) cannot be reported from a destructor
  }
  static void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) GRAFT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  }
  static void to_host(void* dst, const void* src, size_t bytes) {
    if (bytes) GRAFT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }
  static void from_host(void* dst, const void* src, size_t bytes) {
    if (bytes) GRAFT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  }
  static void zero(void* p, size_t bytes) {
    if (bytes) GRAFT_CUDA_CHECK(cudaMemset(p, 0, bytes));
  }
};

}  // namespace graft
