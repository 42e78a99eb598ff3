// Timing on the GPU for graft-bench-gpu: CUDA events around each repetition, on the stream
// the work runs on, after warm-up; the median is reported. Inputs are random (never zeros).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graft/cuda.hpp"

namespace graft {
namespace bench {

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int reps = 0;
};

// Runs fn() `warmup` times, then `reps` times with events around each run.
template <class F>
Timing time_on(cudaStream_t stream, int warmup, int reps, F&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  GRAFT_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<cudaEvent_t> ev(static_cast<size_t>(2 * reps));
  for (auto& e : ev) GRAFT_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < reps; ++i) {
    GRAFT_CUDA_CHECK(cudaEventRecord(ev[size_t(2 * i)], stream));
    fn();
    GRAFT_CUDA_CHECK(cudaEventRecord(ev[size_t(2 * i + 1)], stream));
  }
  GRAFT_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    float elapsed = 0;
    GRAFT_CUDA_CHECK(cudaEventElapsedTime(&elapsed, ev[static_cast<size_t>(2 * i)], ev[static_cast<size_t>(2 * i + 1)]));
    times.push_back(elapsed);
  }
  for (auto& e : ev) GRAFT_CUDA_CHECK(cudaEventDestroy(e));
  Timing r;
  r.reps = reps;
  std::sort(times.begin(), times.end());
  const size_t h = times.size() / 2;
  r.median_ms = times.size() % 2 ? times[h] : 0.5 * (times[h - 1] + times[h]);
  r.min_ms = times.front();
  r.max_ms = times.back();
  return r;
}

// Fills n floats with uniform values in [lo, hi) from the counter-based generator.
__global__ void fill_uniform_kernel(int64_t n, float* p, uint64_t seed, float lo, float hi) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    p[i] = lo + (hi - lo) * random::uniform(seed, uint64_t(i));
}
inline void fill_uniform(float* p, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t stream) {
  GRAFT_LAUNCH(fill_uniform_kernel, kernels::grid_for(n, 256), 256, stream, n, p, seed, lo, hi);
  kernels::check_launch("fill_uniform", stream);
}
template <class D>
void fill_uniform(Tensor<float, D>& t, uint64_t seed, float lo, float hi, cudaStream_t stream) {
  fill_uniform(t.data(), t.size(), seed, lo, hi, stream);
}

}  // namespace bench
}  // namespace graft
