// All layers. Include a backend (graft/cpu.hpp or graft/cuda.hpp) to use them.
#pragma once

#include "graft/layers/add.hpp"
#include "graft/layers/affine.hpp"
#include "graft/layers/avg_pool2d.hpp"
#include "graft/layers/batch_norm2d.hpp"
#include "graft/layers/conv2d.hpp"
#include "graft/layers/dropout.hpp"
#include "graft/layers/flatten.hpp"
#include "graft/layers/leaky_relu.hpp"
#include "graft/layers/linear.hpp"
#include "graft/layers/max_pool2d.hpp"
#include "graft/layers/prelu.hpp"
#include "graft/layers/relu.hpp"
#include "graft/layers/softmax.hpp"
#include "graft/layers/softmax_cross_entropy.hpp"
