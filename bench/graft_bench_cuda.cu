// graft-bench --device cuda: the benchmark core (bench_core.hpp) on the CUDA backend.
// Compiled only when the CUDA backend is part of the build (bench/graft_bench.cmake); no
// Eigen here. Written against the device-generic API only (Network<float, CUDA>, Tensor,
// copy_from_host, the layers' own forward/backward): the CUDA backend's algorithm choices
// (cuDNN, the hand-written kernels) are the layers' implementations() by name.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "graft/cuda.hpp"
#include "bench_core.hpp"
#include "report.hpp"

namespace graft {
namespace bench {

template <>
struct BenchTraits<CUDA> {
  // Whole-device synchronisation: timings then cover every queued kernel.
  static void sync(Context<CUDA>&) { cudaDeviceSynchronize(); }
  static std::string describe() { return "cuda"; }
  static double measure_peak() { return 0; }  // unknown: pass --peak for fractions
};

int run_cuda(const Options& o) { return o.quick ? quick<CUDA>(o) : run<CUDA>(o); }

}  // namespace bench
}  // namespace graft
