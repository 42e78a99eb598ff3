// The CUDA instantiations of the example programs' bodies (no Eigen in this translation unit).
#include "graft/cuda.hpp"

#include "common/cuda_entries.hpp"
#include "common/eval_run.hpp"
#include "common/train_run.hpp"

namespace graft {
namespace app {

// Under mpirun, one GPU per rank: the rank's place on its machine picks it.
inline void use_local_gpu() {
  if (world().size() == 1) return;
  int n = 0;
  GRAFT_CUDA_CHECK(cudaGetDeviceCount(&n));
  GRAFT_CHECK(n > 0, "rank ", world().rank(), ": --device cuda, but this machine has no GPU");
  GRAFT_CUDA_CHECK(cudaSetDevice(dist::local_rank() % n));
}

int run_train_cuda(TrainConfig c) {
  use_local_gpu();
  return run_train<CUDA>(std::move(c));
}
int run_eval_cuda(EvalConfig c) {
  use_local_gpu();
  return run_eval<CUDA>(std::move(c));
}
int run_predict_cuda(PredictConfig c) { return run_predict<CUDA>(std::move(c)); }
int run_extract_cuda(ExtractConfig c) {
  use_local_gpu();
  return run_extract<CUDA>(std::move(c));
}

}  // namespace app
}  // namespace graft
