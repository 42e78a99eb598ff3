// Tensor<T, D>: a dense, row-major (NCHW for images) array of T on device D.
//
// Storage is owned and reused: resize() keeps the allocation when it is large enough, so
// a training loop that resizes its buffers every step allocates only on the first one (a
// fresh large allocation per step costs page faults on every touch). A tensor can also
// borrow memory it does not own (view()). Copies between devices are explicit
// (copy_to_host / copy_from_host); there is no hidden synchronisation.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#include "graft/core/device.hpp"
#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"

namespace graft {

template <>
struct Memory<CPU> {
  static constexpr size_t kAlign = 64;  // a cache line; AVX-512 loads stay aligned
  static void* allocate(size_t bytes) {
    if (bytes == 0) return nullptr;
    size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (!p) GRAFT_FAIL("out of host memory allocating ", bytes, " bytes");
    return p;
  }
  static void release(void* p) noexcept { std::free(p); }
  static void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memmove(dst, src, bytes);
  }
  static void to_host(void* dst, const void* src, size_t bytes) { copy(dst, src, bytes); }
  static void from_host(void* dst, const void* src, size_t bytes) { copy(dst, src, bytes); }
  static void zero(void* p, size_t bytes) {
    if (bytes) std::memset(p, 0, bytes);
  }
};

template <class T, class D = CPU>
class Tensor {
  static_assert(std::is_trivially_copyable<T>::value, "tensor elements must be plain values");

 public:
  using value_type = T;
  using device_type = D;

  Tensor() = default;
  explicit Tensor(const Shape& shape) { resize(shape); }
  Tensor(const Shape& shape, T value) {
    resize(shape);
    fill(value);
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor(Tensor&& o) noexcept { steal(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  ~Tensor() { release(); }

  // A tensor over memory owned elsewhere (which must outlive it). It cannot grow.
  static Tensor view(T* data, const Shape& shape) {
    Tensor t;
    t.data_ = data;
    t.capacity_ = static_cast<size_t>(shape.numel());
    t.shape_ = shape;
    t.owned_ = false;
    return t;
  }

  // Sets the shape, reallocating only when the current storage is too small. Contents are
  // unspecified afterwards (they are kept when the storage is kept).
  void resize(const Shape& shape) {
    size_t n = static_cast<size_t>(shape.numel());
    if (n > capacity_) {
      GRAFT_CHECK(owned_, "cannot grow a tensor view from ", shape_.str(), " to ", shape.str());
      release();
      data_ = static_cast<T*>(Memory<D>::allocate(n * sizeof(T)));
      capacity_ = n;
      owned_ = true;
    }
    shape_ = shape;
  }
  // Changes the shape without touching the data; the element count must not change.
  void reshape(const Shape& shape) {
    GRAFT_CHECK(shape.numel() == shape_.numel(), "cannot reshape ", shape_.str(), " to ",
                shape.str(), ": element counts differ");
    shape_ = shape;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return shape_.numel(); }
  size_t bytes() const { return static_cast<size_t>(size()) * sizeof(T); }
  bool empty() const { return size() == 0; }
  int64_t dim(int i) const { return shape_.dim(i); }

  void zero() { Memory<D>::zero(data_, bytes()); }

  // ---- host-only element access (a compile error on a device tensor) ----
  T& operator[](int64_t i) {
    host_only();
    return data_[i];
  }
  const T& operator[](int64_t i) const {
    host_only();
    return data_[i];
  }
  T& at(int64_t n, int64_t c, int64_t h, int64_t w) {
    host_only();
    return data_[((n * shape_.c() + c) * shape_.h() + h) * shape_.w() + w];
  }
  const T& at(int64_t n, int64_t c, int64_t h, int64_t w) const {
    host_only();
    return data_[((n * shape_.c() + c) * shape_.h() + h) * shape_.w() + w];
  }
  T* begin() {
    host_only();
    return data_;
  }
  T* end() {
    host_only();
    return data_ + size();
  }
  const T* begin() const {
    host_only();
    return data_;
  }
  const T* end() const {
    host_only();
    return data_ + size();
  }
  void fill(T value) {
    host_only();
    for (int64_t i = 0, n = size(); i < n; ++i) data_[i] = value;
  }

 private:
  static void host_only() {
    static_assert(std::is_same<D, CPU>::value, "element access needs a host (CPU) tensor");
  }
  void release() noexcept {
    if (owned_ && data_) Memory<D>::release(data_);
    data_ = nullptr;
    capacity_ = 0;
    owned_ = true;
  }
  void steal(Tensor& o) noexcept {
    data_ = o.data_;
    capacity_ = o.capacity_;
    shape_ = o.shape_;
    owned_ = o.owned_;
    o.data_ = nullptr;
    o.capacity_ = 0;
    o.shape_ = Shape{0};
    o.owned_ = true;
  }

  T* data_ = nullptr;
  size_t capacity_ = 0;  // elements
  Shape shape_{0};        // an empty tensor has no element (a scalar is Shape{})
  bool owned_ = true;
};

// ---- explicit copies ----

// Same device: dst takes src's shape.
template <class T, class D>
void copy(const Tensor<T, D>& src, Tensor<T, D>& dst) {
  dst.resize(src.shape());
  Memory<D>::copy(dst.data(), src.data(), src.bytes());
}

template <class T, class D>
void copy_to_host(const Tensor<T, D>& src, Tensor<T, CPU>& dst) {
  dst.resize(src.shape());
  Memory<D>::to_host(dst.data(), src.data(), src.bytes());
}

template <class T, class D>
void copy_from_host(const Tensor<T, CPU>& src, Tensor<T, D>& dst) {
  dst.resize(src.shape());
  Memory<D>::from_host(dst.data(), src.data(), src.bytes());
}

template <class T, class D>
Tensor<T, D> clone(const Tensor<T, D>& src) {
  Tensor<T, D> t;
  copy(src, t);
  return t;
}

// Host tensor converted element by element to another scalar type.
template <class To, class From>
Tensor<To> cast(const Tensor<From>& src) {
  Tensor<To> t(src.shape());
  for (int64_t i = 0; i < src.size(); ++i) t[i] = static_cast<To>(src[i]);
  return t;
}

// Fills a host tensor with quiet NaNs, so that a kernel which fails to write an output is seen.
template <class T>
void poison(Tensor<T>& t) {
  static_assert(std::numeric_limits<T>::has_quiet_NaN, "poison() needs a floating-point tensor");
  t.fill(std::numeric_limits<T>::quiet_NaN());
}

}  // namespace graft
