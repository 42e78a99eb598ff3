// What every kernel file shares: the launch macro, the checked launch, grid sizing and the
// asynchronous-copy helpers.
//
// The kernels are plain CUDA C++ on raw pointers (llm.c style: a file holds its kernels,
// then small launchers). They compile two ways: with nvcc for the GPU, and with a host C++
// compiler under tests/support/cuda_emu.hpp (GRAFT_KERNEL_EMULATION), which runs each block's
// threads as host threads so that the CPU tests can check the kernels' indexing, barriers and
// tiling on machines without a GPU. Hence launches go through GRAFT_LAUNCH, and inline PTX
// stays in the few helpers below, each with a host twin.
#pragma once

#include <cstdint>
#include <string>

#include "graft/core/device.hpp"
#include "graft/core/error.hpp"

#if !defined(GRAFT_KERNEL_EMULATION)
#include <cuda_runtime.h>
#include <cstdlib>
#else
#include <cstring>
#include <vector>
#endif

// kernel: a plain name or a variable holding a kernel (templates: bind one first,
// `auto k = my_kernel<float, 4>;`, since a comma would split the macro's argument).
#if !defined(GRAFT_KERNEL_EMULATION)
#define GRAFT_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#else
#define GRAFT_LAUNCH(kernel, grid, block, stream, ...) ::graft::emu::launch((grid), (block), kernel, __VA_ARGS__)
#endif

namespace graft {
namespace kernels {

// Reports a failed launch as graft::Error naming the kernel. With GRAFT_CUDA_SYNC=1 it also
// waits for the kernel, so that a fault is reported at the kernel that caused it.
inline void check_launch(const char* kernel, cudaStream_t stream) {
#if !defined(GRAFT_KERNEL_EMULATION)
  static const bool sync = [] {
    const char* v = std::getenv("GRAFT_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && sync) e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    GRAFT_FAIL("kernel ", kernel, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  }
#else
  (void)kernel;
  (void)stream;
#endif
}

// Blocks of `threads` for a grid-stride loop over n items, at most `max_blocks` of them
// (enough to fill any current GPU several times over; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65536) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > max_blocks) b = max_blocks;
  return static_cast<unsigned>(b);
}

// True when p is aligned for vector access of `bytes` bytes.
GRAFT_HD bool aligned(const void* p, unsigned bytes) {
  return (reinterpret_cast<uintptr_t>(p) % bytes) == 0;
}

// ---- asynchronous global -> shared copies (sm_80+), with zero fill ----
// valid == false writes zeros to the shared destination and reads nothing (src must still
// be a pointer into the buffer, never dereferenced).
#if !defined(GRAFT_KERNEL_EMULATION)
__device__ __forceinline__ void cp_async4(float* smem, const float* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async16(float* smem, const float* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#else
// Host twin: copies are queued per thread and land only at cp_async_wait, as on the GPU,
// so a kernel that reads shared memory before waiting reads stale data in the CPU tests too.
struct EmuCopy {
  float* dst;
  const float* src;
  int count;
  bool valid;
};
inline thread_local std::vector<std::vector<EmuCopy>> emu_groups;
inline thread_local std::vector<EmuCopy> emu_open;
inline void emu_copy(const EmuCopy& c) {
  for (int i = 0; i < c.count; ++i) c.dst[i] = c.valid ? c.src[i] : 0.0f;
}
// (the emulator's switch: land copies at issue instead of at the wait)
inline void emu_issue(const EmuCopy& c) {
  if (::graft::emu::g_eager_copies)
    emu_copy(c);
  else
    emu_open.push_back(c);
}
inline void cp_async4(float* smem, const float* gmem, bool valid) { emu_issue({smem, gmem, 1, valid}); }
inline void cp_async16(float* smem, const float* gmem, bool valid) {
  if (reinterpret_cast<uintptr_t>(smem) % 16 || (valid && reinterpret_cast<uintptr_t>(gmem) % 16))
    ::graft::emu::die("cp_async16: misaligned address");
  emu_issue({smem, gmem, 4, valid});
}
inline void cp_async_commit() {
  emu_groups.push_back(emu_open);
  emu_open.clear();
}
template <int N>
inline void cp_async_wait() {
  while (static_cast<int>(emu_groups.size()) > N) {
    for (const EmuCopy& c : emu_groups.front()) emu_copy(c);
    emu_groups.erase(emu_groups.begin());
  }
}
#endif

}  // namespace kernels
}  // namespace graft
