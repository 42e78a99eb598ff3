// Context<CPU>: the scratch memory shared by the layers of one network on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "graft/core/device.hpp"
#include "graft/core/tensor.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace graft {

template <>
class Context<CPU> {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Scratch space for `count` elements of T. It grows to the largest request and is then
  // reused; a pointer stays valid until the next call (layers run one at a time).
  template <class T>
  T* scratch(size_t count) {
    size_t bytes = count * sizeof(T);
    if (scratch_.size() < static_cast<int64_t>(bytes))
      scratch_.resize(Shape{static_cast<int64_t>(bytes)});
    return reinterpret_cast<T*>(scratch_.data());
  }
  size_t scratch_bytes() const { return static_cast<size_t>(scratch_.size()); }

  // The layer now running (Layer::ctx() says so); the CUDA context names it in its errors,
  // the host backend has nothing to add to its own messages.
  void enter(const std::string& /*name*/, const char* /*type*/) {}

  static int threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
  }

 private:
  Tensor<unsigned char> scratch_;
};

}  // namespace graft
