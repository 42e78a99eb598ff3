// Host copies with an element type change, for the CPU references of the CUDA tests.
#pragma once

#include "graft/cpu.hpp"

namespace graft {
namespace test {
namespace ref {

// dst = src element for element, converted to T (dst takes src's shape).
template <class T, class U>
void assign(Tensor<T>& dst, const Tensor<U>& src) {
  dst.resize(src.shape());
  for (int64_t i = 0; i < src.size(); ++i) dst[i] = static_cast<T>(src[i]);
}

}  // namespace ref
}  // namespace test
}  // namespace graft
