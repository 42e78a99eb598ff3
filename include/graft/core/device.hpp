// Device tags, and the traits a backend specialises for its device.
//
// Layers are templates on (scalar, device). They never name a backend directly: they call
// Backend<D>, which the CPU backend (graft/cpu.hpp, Eigen) and the CUDA backend
// (graft/cuda.hpp, cuDNN/cuBLAS/kernels) specialise. A CPU-only program therefore never
// sees a CUDA header, and a CUDA translation unit need not see Eigen.
#pragma once

#include <cstddef>

// Functions that run on both host and device when compiled by nvcc.
#if defined(__CUDACC__)
#define GRAFT_HD __host__ __device__ __forceinline__
#else
#define GRAFT_HD inline
#endif

namespace graft {

struct CPU {
  static constexpr const char* name = "cpu";
};
struct CUDA {
  static constexpr const char* name = "cuda";
};

// Raw memory of a device: allocate, release, copy within the device and across to the host.
// Specialised for CPU in graft/core/tensor.hpp and for CUDA in graft/backend/cuda/memory.hpp.
template <class D>
struct Memory;

// Per-device execution state: thread count and scratch space on the CPU; stream, cuDNN and
// cuBLAS handles and the workspace on CUDA. One per network; layers keep a pointer to it.
template <class D>
class Context;

// The operations a device offers to layers (defined by each backend).
template <class D>
struct Backend;

}  // namespace graft
