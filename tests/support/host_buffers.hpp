// Host-side helpers shared by the kernel tests (the emulated ones, tests/test_*_emu.cpp, and
// the CUDA ones, tests/cuda/): NaN-poisoned buffers with a misaligned view, tensors from raw
// pointers, exact comparison, and the NCHW <-> NHWC layouts of channels-last mode. Host code
// only; include it before tests/support/cuda_emu.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "graft/core/tensor.hpp"  // (no CPU backend: tests/cuda include this, and a .cu file takes no Eigen)

namespace graft {
namespace test {

// A host buffer with room for a misaligned view (offset elements), poisoned with NaN.
template <class T>
struct Buf {
  std::vector<T> store;
  T* p;
  explicit Buf(int64_t n, int offset = 0) : store(size_t(n + 16), std::numeric_limits<T>::quiet_NaN()) {
    T* base = store.data();
    while (reinterpret_cast<uintptr_t>(base) % 32) ++base;  // 32-byte aligned start
    p = base + offset;
  }
  Buf(const Tensor<T>& t, int offset = 0) : Buf(t.size(), offset) { std::copy(t.begin(), t.end(), p); }
};

template <class T>
Tensor<T> as_tensor(const T* p, const Shape& s) {
  Tensor<T> t(s);
  std::copy(p, p + s.numel(), t.data());
  return t;
}

// Equal element for element, a NaN equal to a NaN (max_rel_error would hide NaN positions),
// a zero's sign included (0 + dy turns a -0 gradient into +0 on the CPU; the kernels must too).
inline bool same(const float* got, const Tensor<float>& want) {
  for (int64_t i = 0; i < want.size(); ++i) {
    const float a = got[i], b = want[i];
    if (!((std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b)))) return false;
  }
  return true;
}

// Host layout changes for the channels-last tests: the NHWC storage of a logical NCHW tensor,
// and back (the shape stays the logical (n, c, h, w) in both).
template <class T>
Tensor<T> to_nhwc(const Tensor<T>& x) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  Tensor<T> y(s);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * hw + q) * c + ch] = x[(i * c + ch) * hw + q];
  return y;
}
template <class T>
Tensor<T> to_nchw(const Tensor<T>& x) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  Tensor<T> y(s);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * c + ch) * hw + q] = x[(i * hw + q) * c + ch];
  return y;
}

}  // namespace test
}  // namespace graft
