// graft on the GPU: the core, the CUDA backend (cuDNN, cuBLAS, graft's kernels) and every
// layer. No Eigen: a CUDA translation unit includes this header alone. It is CUDA C++ (it
// brings in kernels/*.cuh), so include it from .cu files compiled by nvcc, linked with
// graft::cuda.
#pragma once

#include "graft/backend/cuda/backend.hpp"
#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/layers.hpp"
