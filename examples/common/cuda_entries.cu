// The CUDA instantiations of the example programs' bodies (no Eigen in this translation unit).
#include "graft/cuda.hpp"

#include "common/cuda_entries.hpp"
#include "common/eval_run.hpp"
#include "common/train_run.hpp"

namespace graft {
namespace app {

int run_train_cuda(TrainConfig c) { return run_train<CUDA>(std::move(c)); }
int run_eval_cuda(EvalConfig c) { return run_eval<CUDA>(std::move(c)); }
int run_predict_cuda(PredictConfig c) { return run_predict<CUDA>(std::move(c)); }
int run_extract_cuda(ExtractConfig c) { return run_extract<CUDA>(std::move(c)); }

}  // namespace app
}  // namespace graft
