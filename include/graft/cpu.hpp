// graft on the host: the core, the CPU (Eigen) backend and every layer.
#pragma once

#include "graft/backend/cpu/backend.hpp"
#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/layers.hpp"
