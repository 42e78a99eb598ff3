// The CUDA instantiations of the programs' bodies, compiled in cuda_entries.cu only when the
// CUDA backend is built; null function pointers otherwise.
#pragma once

namespace graft {
namespace app {
struct TrainConfig;
struct EvalConfig;
struct PredictConfig;
struct ExtractConfig;

#if defined(GRAFT_WITH_CUDA)
int run_train_cuda(TrainConfig c);
int run_eval_cuda(EvalConfig c);
int run_predict_cuda(PredictConfig c);
int run_extract_cuda(ExtractConfig c);
constexpr int (*train_cuda)(TrainConfig) = run_train_cuda;
constexpr int (*eval_cuda)(EvalConfig) = run_eval_cuda;
constexpr int (*predict_cuda)(PredictConfig) = run_predict_cuda;
constexpr int (*extract_cuda)(ExtractConfig) = run_extract_cuda;
#else
constexpr int (*train_cuda)(TrainConfig) = nullptr;
constexpr int (*eval_cuda)(EvalConfig) = nullptr;
constexpr int (*predict_cuda)(PredictConfig) = nullptr;
constexpr int (*extract_cuda)(ExtractConfig) = nullptr;
#endif

}  // namespace app
}  // namespace graft
