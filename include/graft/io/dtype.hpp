// DType: the NumPy element types graft reads and writes, and their spellings.
//
// NumPy names a type by a "descr" string: a byte-order character ('<' little, '>' big,
// '|' not applicable, '=' native) followed by a kind and a size in bytes ("<f4", "|u1").
// graft keeps array data in the host's byte order, so a DType carries no byte order; the
// order a file used is only needed while reading it.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "graft/core/error.hpp"

namespace graft {
namespace io {

enum class DType : uint8_t { b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8 };

inline constexpr bool host_is_little_endian() {
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return false;
#else
  return true;
#endif
}

inline size_t itemsize(DType t) {
  switch (t) {
    case DType::b1: case DType::i1: case DType::u1: return 1;
    case DType::i2: case DType::u2: case DType::f2: return 2;
    case DType::i4: case DType::u4: case DType::f4: return 4;
    case DType::i8: case DType::u8: case DType::f8: return 8;
  }
  return 0;
}

inline bool is_float(DType t) { return t == DType::f2 || t == DType::f4 || t == DType::f8; }
inline bool is_signed_int(DType t) {
  return t == DType::i1 || t == DType::i2 || t == DType::i4 || t == DType::i8;
}

// NumPy's name of the type (dtype.name): "float32", "uint8", "bool".
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::b1: return "bool";
    case DType::i1: return "int8";
    case DType::u1: return "uint8";
    case DType::i2: return "int16";
    case DType::u2: return "uint16";
    case DType::i4: return "int32";
    case DType::u4: return "uint32";
    case DType::i8: return "int64";
    case DType::u8: return "uint64";
    case DType::f2: return "float16";
    case DType::f4: return "float32";
    case DType::f8: return "float64";
  }
  return "?";
}

// Kind and size without byte order: "f4", "b1".
inline std::string dtype_code(DType t) {
  const char kind = t == DType::b1 ? 'b' : is_float(t) ? 'f' : is_signed_int(t) ? 'i' : 'u';
  return std::string(1, kind) + std::to_string(itemsize(t));
}

// The descr NumPy writes for data in the host's byte order: "<f4", "|u1".
inline std::string descr(DType t) {
  const char order = itemsize(t) == 1 ? '|' : host_is_little_endian() ? '<' : '>';
  return std::string(1, order) + dtype_code(t);
}

// Parses a kind+size code ("f4"); false when it is not one of graft's types.
inline bool parse_dtype_code(const std::string& code, DType& out) {
  static const DType all[] = {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4,
                              DType::u4, DType::i8, DType::u8, DType::f2, DType::f4, DType::f8};
  for (DType t : all)
    if (code == dtype_code(t)) {
      out = t;
      return true;
    }
  return false;
}

// Byte-order character of a descr or of a pickled dtype's state: true when the data must be
// byte-swapped to reach host order. Throws for a character that is not a byte order.
inline bool needs_swap(char order, DType t) {
  switch (order) {
    case '=': case '|': return false;
    case '<': return itemsize(t) > 1 && !host_is_little_endian();
    case '>': return itemsize(t) > 1 && host_is_little_endian();
    default: GRAFT_FAIL("'", order, "' is not a byte order");
  }
}

template <class T>
constexpr bool has_dtype() {
  return std::is_same<T, bool>::value || std::is_same<T, int8_t>::value ||
         std::is_same<T, uint8_t>::value || std::is_same<T, int16_t>::value ||
         std::is_same<T, uint16_t>::value || std::is_same<T, int32_t>::value ||
         std::is_same<T, uint32_t>::value || std::is_same<T, int64_t>::value ||
         std::is_same<T, uint64_t>::value || std::is_same<T, float>::value ||
         std::is_same<T, double>::value;
}

// The DType of a C++ scalar type.
template <class T>
constexpr DType dtype_of() {
  static_assert(has_dtype<T>(), "no NumPy dtype for this scalar type");
  if (std::is_same<T, bool>::value) return DType::b1;
  if (std::is_same<T, int8_t>::value) return DType::i1;
  if (std::is_same<T, uint8_t>::value) return DType::u1;
  if (std::is_same<T, int16_t>::value) return DType::i2;
  if (std::is_same<T, uint16_t>::value) return DType::u2;
  if (std::is_same<T, int32_t>::value) return DType::i4;
  if (std::is_same<T, uint32_t>::value) return DType::u4;
  if (std::is_same<T, int64_t>::value) return DType::i8;
  if (std::is_same<T, uint64_t>::value) return DType::u8;
  if (std::is_same<T, float>::value) return DType::f4;
  return DType::f8;
}

}  // namespace io
}  // namespace graft
