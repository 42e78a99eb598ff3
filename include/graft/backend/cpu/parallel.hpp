// When a host loop is worth a parallel region.
//
// A parallel region ends at a barrier: every thread of the team must have run. On a busy
// machine (here: other processes compiling on the same two cores) a thread may wait for its
// turn for a whole scheduler time slice, milliseconds, which a loop over a few thousand
// elements (the head's fc7/fc8, its dropout and ReLU, Adam on fc8) never wins back. Loops
// over fewer elements than this run on the calling thread.
#pragma once

#include <cstdint>

namespace graft {
namespace cpu {

constexpr int64_t kParallelMin = int64_t(1) << 16;

}  // namespace cpu
}  // namespace graft
