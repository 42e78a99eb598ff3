// Array: an n-d array as NumPy has it — a dtype, a shape and the elements in C order, in the
// host's byte order — whatever byte order and memory order the file used.
//
// It keeps a file's values exactly (int64, float16 ...). Tensors are made from it on
// request: to_tensor<T>() insists on the same type unless asked to convert. Converting to a
// floating-point type rounds to the nearest value, as NumPy's astype does; a value out of
// the target's range (1e300 into float) or, for an integer target, not held exactly (2.5 or
// 300 into uint8) is an error, never a silent wrong answer.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"
#include "graft/io/dtype.hpp"

namespace graft {
namespace io {

enum class Cast {
  exact,    // the array must already hold T
  convert,  // any dtype, converted value by value; values T cannot hold are an error
};

// IEEE half to float, exactly (every half is a float), subnormals, infinities and NaN included.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: man * 2^-24, exactly representable as a normal float
    float f = std::ldexp(static_cast<float>(man), -24);
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

class Array {
 public:
  Array() = default;
  // Zero-filled array of the given type and shape.
  Array(DType dtype, const Shape& shape) : dtype_(dtype), shape_(shape) {
    bytes_.assign(byte_count(dtype, shape), 0);
  }
  // Takes ownership of bytes already in C order and host byte order.
  Array(DType dtype, const Shape& shape, std::vector<uint8_t> bytes)
      : dtype_(dtype), shape_(shape), bytes_(std::move(bytes)) {
    GRAFT_CHECK(bytes_.size() == byte_count(dtype, shape), "array of ", dtype_name(dtype), " ",
                shape.str(), " needs ", byte_count(dtype, shape), " bytes, got ", bytes_.size());
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return shape_.numel(); }
  size_t nbytes() const { return bytes_.size(); }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }

  // Element i (C order) as a double: exact for every type but 64-bit integers beyond 2^53.
  double value(int64_t i) const {
    const uint8_t* p = bytes_.data() + static_cast<size_t>(i) * itemsize(dtype_);
    switch (dtype_) {
      case DType::b1: return *p ? 1.0 : 0.0;
      case DType::i1: return double(load<int8_t>(p));
      case DType::u1: return double(*p);
      case DType::i2: return double(load<int16_t>(p));
      case DType::u2: return double(load<uint16_t>(p));
      case DType::i4: return double(load<int32_t>(p));
      case DType::u4: return double(load<uint32_t>(p));
      case DType::i8: return double(load<int64_t>(p));
      case DType::u8: return double(load<uint64_t>(p));
      case DType::f2: return double(half_to_float(load<uint16_t>(p)));
      case DType::f4: return double(load<float>(p));
      case DType::f8: return load<double>(p);
    }
    return 0;
  }

  // A host tensor of T with this array's shape. `what` names the array in messages.
  template <class T>
  Tensor<T> to_tensor(Cast cast = Cast::exact, const std::string& what = "array") const {
    GRAFT_CHECK(cast == Cast::convert || dtype_ == dtype_of<T>(), what, ": holds ", dtype_name(dtype_),
                ", expected ", dtype_name(dtype_of<T>()), " (ask for Cast::convert to convert it)");
    Tensor<T> t(shape_);
    if (dtype_ == dtype_of<T>()) {
      if (!bytes_.empty()) std::memcpy(t.data(), bytes_.data(), bytes_.size());
      return t;
    }
    switch (dtype_) {
      case DType::b1: convert_from<uint8_t, T>(t, what, true); break;
      case DType::i1: convert_from<int8_t, T>(t, what); break;
      case DType::u1: convert_from<uint8_t, T>(t, what); break;
      case DType::i2: convert_from<int16_t, T>(t, what); break;
      case DType::u2: convert_from<uint16_t, T>(t, what); break;
      case DType::i4: convert_from<int32_t, T>(t, what); break;
      case DType::u4: convert_from<uint32_t, T>(t, what); break;
      case DType::i8: convert_from<int64_t, T>(t, what); break;
      case DType::u8: convert_from<uint64_t, T>(t, what); break;
      case DType::f2: convert_half<T>(t, what); break;
      case DType::f4: convert_from<float, T>(t, what); break;
      case DType::f8: convert_from<double, T>(t, what); break;
    }
    return t;
  }

  // An array holding a host tensor's values.
  template <class T>
  static Array from_tensor(const Tensor<T>& t) {
    Array a(dtype_of<T>(), t.shape());
    if (a.nbytes()) std::memcpy(a.data(), t.data(), a.nbytes());
    return a;
  }

  static size_t byte_count(DType dtype, const Shape& shape) {
    return static_cast<size_t>(shape.numel()) * itemsize(dtype);
  }

 private:
  template <class V>
  static V load(const uint8_t* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }

  // Whether v (a value of From) may become a To: a floating-point target takes any value in
  // its range (rounded to the nearest, as NumPy's astype does); an integer or bool target
  // only values it holds exactly.
  template <class To, class From>
  static bool fits(From v) {
    if constexpr (std::is_floating_point<To>::value) {
      if constexpr (!std::is_floating_point<From>::value) {
        return true;  // every integer type lies within float's range
      } else {
        const double d = static_cast<double>(v);
        return !std::isfinite(d) || std::abs(d) <= static_cast<double>(std::numeric_limits<To>::max());
      }
    } else if constexpr (std::is_same<To, bool>::value) {
      return v == From(0) || v == From(1);
    } else if constexpr (std::is_floating_point<From>::value) {
      const double d = static_cast<double>(v);
      // [min, 2^digits): both bounds are exact in double.
      const double lo = static_cast<double>(std::numeric_limits<To>::min());
      const double hi = std::ldexp(1.0, std::numeric_limits<To>::digits);
      return std::isfinite(d) && d == std::trunc(d) && d >= lo && d < hi;
    } else if constexpr (std::is_signed<From>::value) {
      if (v < 0)
        return std::is_signed<To>::value &&
               static_cast<int64_t>(v) >= static_cast<int64_t>(std::numeric_limits<To>::min());
      return static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<To>::max());
    } else {
      return static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<To>::max());
    }
  }

  template <class From, class T>
  void convert_from(Tensor<T>& t, const std::string& what, bool boolean = false) const {
    const uint8_t* p = bytes_.data();
    for (int64_t i = 0, n = size(); i < n; ++i, p += sizeof(From)) {
      From v = load<From>(p);
      if (boolean) v = v ? From(1) : From(0);
      if (!fits<T>(v))
        GRAFT_FAIL(what, ": element ", i, " (", static_cast<double>(v), ") of a ", dtype_name(dtype_),
                   " array cannot be held exactly by ", dtype_name(dtype_of<T>()));
      t[i] = static_cast<T>(v);
    }
  }
  template <class T>
  void convert_half(Tensor<T>& t, const std::string& what) const {
    const uint8_t* p = bytes_.data();
    for (int64_t i = 0, n = size(); i < n; ++i, p += 2) {
      const float v = half_to_float(load<uint16_t>(p));
      if (!fits<T>(v))
        GRAFT_FAIL(what, ": element ", i, " (", v, ") of a float16 array cannot be held exactly by ",
                   dtype_name(dtype_of<T>()));
      t[i] = static_cast<T>(v);
    }
  }

  DType dtype_ = DType::f4;
  Shape shape_{0};
  std::vector<uint8_t> bytes_;
};

// In-place byte swap of n elements of `size` bytes.
inline void swap_bytes(uint8_t* p, size_t n, size_t size) {
  if (size == 1) return;
  for (size_t i = 0; i < n; ++i, p += size)
    for (size_t a = 0, b = size - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

// Fortran-order (first index fastest) bytes to C order (last index fastest).
inline std::vector<uint8_t> fortran_to_c(const std::vector<uint8_t>& in, const Shape& shape, size_t size) {
  std::vector<uint8_t> out(in.size());
  const int r = shape.rank();
  const int64_t n = shape.numel();
  if (n == 0) return out;
  // Fortran strides (in elements) of each dimension.
  int64_t fstride[Shape::kMaxRank];
  int64_t s = 1;
  for (int d = 0; d < r; ++d) {
    fstride[d] = s;
    s *= shape[d];
  }
  int64_t idx[Shape::kMaxRank] = {};
  int64_t src = 0;  // Fortran offset of the C-order position `dst`
  for (int64_t dst = 0; dst < n; ++dst) {
    std::memcpy(out.data() + size_t(dst) * size, in.data() + size_t(src) * size, size);
    for (int d = r - 1; d >= 0; --d) {  // advance the C-order odometer
      if (++idx[d] < shape[d]) {
        src += fstride[d];
        break;
      }
      src -= fstride[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace io
}  // namespace graft
