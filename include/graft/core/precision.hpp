// The arithmetic precision a network runs in (Context<CUDA>::set_precision; the trainers' and
// benchmarks' --precision).
//
//   FP32  float32 storage and arithmetic (with TF32 tensor-core products on CUDA unless
//         Context<CUDA>::set_tf32(false)); the only precision on the CPU.
//   BF16  mixed precision on CUDA for float networks: convolutions and fully connected layers
//         take bf16 operands on the tensor cores and accumulate in float32 (cuDNN, cuBLAS);
//         master weights, gradients, optimizer state, the loss and every reduction stay float32,
//         and checkpoints are unchanged. See backend/cuda/context.hpp for what is bf16 so far.
#pragma once

#include <string>

#include "graft/core/error.hpp"

namespace graft {

enum class Precision { FP32, BF16 };

inline const char* to_string(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

// "fp32" or "bf16" (the command-line spelling); anything else is an error naming `what`.
inline Precision parse_precision(const std::string& s, const char* what = "--precision") {
  if (s == "fp32") return Precision::FP32;
  if (s == "bf16") return Precision::BF16;
  GRAFT_FAIL(what, ": unknown precision '", s, "' (fp32 or bf16)");
}

}  // namespace graft
