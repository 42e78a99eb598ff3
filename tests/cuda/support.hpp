// Helpers of the CUDA tests: skipping without a device, host<->device copies, poisoning,
// fresh random inputs, and the tolerances.
#pragma once

#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "graft/cuda.hpp"
#include "support/host_buffers.hpp"
#include "support/random_fill.hpp"
#include "support/skip.hpp"

namespace graft {
namespace test {

// Skips the test case (exit 77, "Skipped" in ctest) when no CUDA device can be used here.
inline void require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    GRAFT_SKIP(std::string("no CUDA device: cudaGetDeviceCount says ") + cudaGetErrorString(e));
  }
  if (n == 0) GRAFT_SKIP("no CUDA device: cudaGetDeviceCount found none");
}

// Inputs are drawn fresh each run (GRAFT_TEST_SEED=N replays a run); the seed is printed.
inline uint64_t fresh_seed() {
  static const uint64_t base = [] {
    const char* s = std::getenv("GRAFT_TEST_SEED");
    uint64_t v = s && *s ? std::strtoull(s, nullptr, 10) : (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    std::printf("graft CUDA tests: GRAFT_TEST_SEED=%llu\n", static_cast<unsigned long long>(v));
    return v;
  }();
  static uint64_t counter = 0;
  return random::bits(base, counter++);
}

inline Tensor<float> random_host(const Shape& s, double scale = 1.0) {
  Tensor<float> t(s);
  fill_normal(t, fresh_seed(), scale);
  return t;
}

template <class T>
Tensor<T, CUDA> to_device(const Tensor<T>& h) {
  Tensor<T, CUDA> d;
  copy_from_host(h, d);
  return d;
}
template <class T>
Tensor<T> to_host(const Tensor<T, CUDA>& d) {
  Tensor<T> h;
  copy_to_host(d, h);
  return h;
}

// Gives t the shape s, every byte 0xFF (a NaN in float and double), so that an element a
// kernel fails to write shows as NaN. Layers keep storage that is large enough, so a poisoned
// output tensor is the one they write.
template <class T>
void poison(Tensor<T, CUDA>& t, const Shape& s) {
  t.resize(s);
  if (t.bytes()) GRAFT_CUDA_CHECK(cudaMemset(t.data(), 0xFF, t.bytes()));
}

// Tolerances on max|got - want| / max|want| (float outputs against double references):
// float32 arithmetic (cuDNN with TF32 off, FP32 FMA kernels, 3xTF32) stays near 1e-6 for these
// sizes; the bound leaves room for cuDNN's FFT and Winograd algorithms. TF32 rounds each
// operand to 11 significant bits (relative 2^-11 = 4.9e-4 per operand); random signs keep the
// sum's error far below the per-product bound.
constexpr double kTolFloat32 = 1e-4;
constexpr double kTolTF32 = 3e-3;

inline double tolerance(bool tf32) { return tf32 ? kTolTF32 : kTolFloat32; }

}  // namespace test
}  // namespace graft
