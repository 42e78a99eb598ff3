// graft: everything that runs on the host. CUDA users add graft/cuda.hpp.
#pragma once

#include "graft/cpu.hpp"
