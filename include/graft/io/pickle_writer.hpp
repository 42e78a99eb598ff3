// Writes pickle opcodes (protocol 3, as np.save under Python 3) for the one structure graft
// saves: a 0-d object array holding {layer: {param: ndarray}}, so that
// np.load(f, allow_pickle=True).item() gives the dict back. Bytes go straight to `Out`
// (anything with write(const void*, size_t)), so a 580 MB model is never copied in memory.
#pragma once

#include <cstdint>
#include <string>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/dtype.hpp"

namespace graft {
namespace io {
namespace pickle {

template <class Out>
class Writer {
 public:
  explicit Writer(Out& out) : out_(out) {}

  void proto() { op2(0x80, 3); }
  void stop() { op('.'); }
  void mark() { op('('); }
  void tuple() { op('t'); }
  void empty_tuple() { op(')'); }
  void tuple1() { op(0x85); }
  void tuple3() { op(0x87); }
  void empty_list() { op(']'); }
  void append() { op('a'); }
  void empty_dict() { op('}'); }
  void setitems() { op('u'); }
  void reduce() { op('R'); }
  void build() { op('b'); }
  void none() { op('N'); }
  void boolean(bool v) { op(v ? 0x88 : 0x89); }

  void global(const char* module, const char* name) {
    op('c');
    raw(std::string(module) + "\n" + name + "\n");
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op2('K', static_cast<uint8_t>(v));
    } else if (v >= 0 && v < 65536) {
      op('M');
      le(uint64_t(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      op2(0x8a, 8);  // LONG1, 8 bytes two's complement
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void text(const std::string& s) {
    GRAFT_CHECK(s.size() < 0xffffffffu, "pickle: string too long");
    op('X');
    le(s.size(), 4);
    raw(s);
  }
  void bytes(const void* p, uint64_t n) {
    GRAFT_CHECK(n < 0xffffffffu, "pickle: an array of ", n, " bytes reaches 4 GiB, more than protocol 3 holds");
    if (n < 256) {
      op2('C', static_cast<uint8_t>(n));
    } else {
      op('B');
      le(n, 4);
    }
    out_.write(p, static_cast<size_t>(n));
  }

  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'): the empty array BUILD fills.
  void empty_ndarray() {
    global("numpy.core.multiarray", "_reconstruct");
    global("numpy", "ndarray");
    integer(0);
    tuple1();
    bytes("b", 1);
    tuple3();
    reduce();
  }
  // numpy.dtype(code, False, True) with its version-3 state, as NumPy pickles it.
  void dtype(const std::string& code, char order, int flags) {
    global("numpy", "dtype");
    text(code);
    boolean(false);
    boolean(true);
    tuple3();
    reduce();
    mark();
    integer(3);
    text(std::string(1, order));
    none();
    none();
    none();
    integer(-1);
    integer(-1);
    integer(flags);
    tuple();
    build();
  }
  void shape(const Shape& s) {
    mark();
    for (int i = 0; i < s.rank(); ++i) integer(s[i]);
    tuple();
  }
  // A numeric ndarray, C order, host byte order.
  void ndarray(const Array& a) {
    empty_ndarray();
    mark();
    integer(1);
    shape(a.shape());
    const std::string d = descr(a.dtype());  // "<f4": order, then code
    dtype(d.substr(1), d[0], 0);
    boolean(false);  // not Fortran order
    bytes(a.data(), a.nbytes());
    tuple();
    build();
  }

 private:
  void op(uint8_t c) { out_.write(&c, 1); }
  void op2(uint8_t c, uint8_t arg) {
    const uint8_t b[2] = {c, arg};
    out_.write(b, 2);
  }
  void raw(const std::string& s) { out_.write(s.data(), s.size()); }
  void le(uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    out_.write(b, size_t(n));
  }
  Out& out_;
};

}  // namespace pickle
}  // namespace io
}  // namespace graft
