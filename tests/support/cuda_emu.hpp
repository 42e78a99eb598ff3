// A small host emulator for graft's CUDA kernels (kernels/*.cuh), so that the CPU tests can
// run the real kernel source on machines without a GPU.
//
// Include this header before any kernels/*.cuh. Each launch runs its blocks one after the
// other; the threads of a block are host threads, __syncthreads and __syncwarp are barriers,
// __shared__ arrays are static storage (one block at a time uses them), warp shuffles go
// through a per-warp exchange, cp.async copies are queued and land at cp_async_wait (or at
// issue, with set_eager_copies(true), to shake out missing barriers), and the WMMA TF32
// operations compute whole fragments on lane 0 (in float, inputs as the kernel rounded them).
// WMMA's documented constraints are checked: 32-byte aligned pointers, ldm a multiple of 4.
//
// It checks indexing, tiling, masking, barriers and rounding; it cannot show timing, memory
// coalescing or register pressure, and host threads interleave differently from warps.
#pragma once

#define GRAFT_KERNEL_EMULATION 1

#include <math.h>
#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using cudaStream_t = void*;
using std::max;
using std::min;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};

namespace graft {
namespace emu {

struct Warp {
  pthread_barrier_t barrier;
  uint64_t slot[32];
};
struct Block {
  pthread_barrier_t barrier;
  std::vector<Warp> warps;
};

inline thread_local dim3 t_thread, t_block;
inline thread_local int t_linear = 0;
inline dim3 g_block_dim, g_grid_dim;
inline Block* g_current = nullptr;
inline bool g_eager_copies = false;

// cp.async copies land at issue (true) or at the wait (false, the default).
inline void set_eager_copies(bool on) { g_eager_copies = on; }

inline void die(const char* what) {
  std::fprintf(stderr, "cuda_emu: %s\n", what);
  std::abort();
}

inline void block_barrier() { pthread_barrier_wait(&g_current->barrier); }
inline void warp_barrier() { pthread_barrier_wait(&g_current->warps[t_linear / 32].barrier); }
inline int lane() { return t_linear % 32; }

template <class... P, class... A>
void launch(dim3 grid, dim3 block, void (*kernel)(P...), A&&... args) {
  const std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  const int threads = int(block.x * block.y * block.z);
  if (threads <= 0 || threads > 1024) die("bad block size");
  g_block_dim = block;
  g_grid_dim = grid;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        Block b;
        pthread_barrier_init(&b.barrier, nullptr, unsigned(threads));
        b.warps.resize((threads + 31) / 32);
        for (size_t w = 0; w < b.warps.size(); ++w)
          pthread_barrier_init(&b.warps[w].barrier, nullptr, unsigned(std::min(32, threads - int(w) * 32)));
        g_current = &b;
        std::vector<std::thread> pool;
        pool.reserve(size_t(threads));
        for (int t = 0; t < threads; ++t)
          pool.emplace_back([&, t] {
            t_linear = t;
            t_thread = dim3(unsigned(t) % block.x, (unsigned(t) / block.x) % block.y, unsigned(t) / (block.x * block.y));
            t_block = dim3(bx, by, bz);
            auto copy = params;  // kernel parameters are per-thread copies
            std::apply(kernel, copy);
          });
        for (auto& th : pool) th.join();
        for (auto& w : b.warps) pthread_barrier_destroy(&w.barrier);
        pthread_barrier_destroy(&b.barrier);
        g_current = nullptr;
      }
}

}  // namespace emu
}  // namespace graft

#define threadIdx (::graft::emu::t_thread)
#define blockIdx (::graft::emu::t_block)
#define blockDim (::graft::emu::g_block_dim)
#define gridDim (::graft::emu::g_grid_dim)

inline void __syncthreads() { ::graft::emu::block_barrier(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::graft::emu::warp_barrier(); }

template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int = 32) {
  static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
  auto& w = ::graft::emu::g_current->warps[::graft::emu::t_linear / 32];
  const int lane = ::graft::emu::lane();
  std::memcpy(&w.slot[lane], &v, sizeof(T));
  ::graft::emu::warp_barrier();
  T r;
  std::memcpy(&r, &w.slot[lane ^ lane_mask], sizeof(T));
  ::graft::emu::warp_barrier();
  return r;
}

// ---- WMMA (TF32, m16n16k8) ----
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K>
struct dims;
template <int M, int N, int K>
struct dims<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct dims<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct dims<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

// The whole fragment, row-major, in every thread (only lane 0's copy is multiplied and stored).
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = dims<Use, M, N, K>::rows, cols = dims<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols;
  float x[num_elements];
};

inline void check_ptr(const void* p, unsigned ldm) {
  if (reinterpret_cast<uintptr_t>(p) % 32) ::graft::emu::die("WMMA pointer not 32-byte aligned");
  if (ldm % 4) ::graft::emu::die("WMMA ldm not a multiple of 4");
}

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ldm) {
  check_ptr(p, ldm);
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int i = 0; i < F::rows; ++i)
    for (int j = 0; j < F::cols; ++j)
      f.x[i * F::cols + j] = std::is_same<Layout, col_major>::value ? p[i + j * ldm] : p[i * ldm + j];
}

template <int M, int N, int K, class T>
void fill_fragment(fragment<accumulator, M, N, K, T>& f, float v) {
  for (auto& e : f.x) e = v;
}

template <int M, int N, int K, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, precision::tf32, LA>& a,
              const fragment<matrix_b, M, N, K, precision::tf32, LB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  if (::graft::emu::lane() != 0) return;
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += a.x[i * K + k] * b.x[k * N + j];
      out[i * N + j] = s;
    }
  std::memcpy(d.x, out, sizeof(out));
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  check_ptr(p, ldm);
  if (::graft::emu::lane() != 0) return;  // the kernel must __syncwarp before other lanes read
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) (layout == mem_row_major ? p[i * ldm + j] : p[i + j * ldm]) = f.x[i * N + j];
}

// cvt.rna.tf32.f32: round to nearest (ties away from zero) to a 10-bit mantissa.
inline float __float_to_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace wmma
}  // namespace nvcuda
