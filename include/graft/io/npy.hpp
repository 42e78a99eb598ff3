// NPY: NumPy's one-array file format, versions 1.0, 2.0 and 3.0.
//
//   "\x93NUMPY" major minor  header_len (u16 in 1.0, u32 in 2.0/3.0, little-endian)
//   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//           padded with spaces and ended by '\n' (latin-1 in 1.0/2.0, UTF-8 in 3.0)
//   data:   shape.numel() elements of descr, in C or Fortran order
//
// The header is parsed by a small grammar that accepts exactly such dicts (no eval of
// anything). The data must fill the rest of the file exactly: a short file and a file with
// trailing bytes are both refused, as they mean the header does not describe the data.
// descr '|O' (pickled objects) is the caffe-tensorflow container, read by weights.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {

struct NpyHeader {
  int major = 1, minor = 0;
  std::string descr;        // as written, e.g. "<f4" or "|O"
  bool object = false;      // descr '|O': pickled Python objects follow
  DType dtype = DType::f4;  // when !object
  bool swap = false;        // data must be byte-swapped to host order
  bool fortran_order = false;
  Shape shape;
};

namespace detail {

// A cursor over the header text; errors name the file and the header's offset.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const Input& in, uint64_t start)
      : s_(text), in_(in), start_(start) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (have_descr) fail("key 'descr' appears twice");
        if (peek() == '[') fail("descr is a list (a structured dtype), which graft does not read");
        h.descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("key 'fortran_order' appears twice");
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("key 'shape' appears twice");
        h.shape = shape();
        have_shape = true;
      } else {
        fail("unexpected key ", quote(key), " (an NPY header has exactly 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the header's dict");
    if (!have_descr || !have_order || !have_shape)
      fail("header lacks ", !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
    return h;
  }

 private:
  template <class... P>
  [[noreturn]] void fail(P&&... parts) const {
    in_.fail_at(start_ + i_, "NPY header: ", std::forward<P>(parts)...);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail("expected '", c, "'");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\') fail("escapes in strings are not supported");
      ++i_;
    }
    if (i_ >= s_.size()) fail("unterminated string");
    return s_.substr(start, i_++ - start);
  }
  bool word(const char* w) {
    const size_t n = std::char_traits<char>::length(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool boolean() {
    if (word("True")) return true;
    if (word("False")) return false;
    fail("fortran_order must be True or False");
  }
  int64_t integer() {
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in the shape");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (Shape::kMaxNumel - 9) / 10) fail("dimension too large (over 2^40)");
      v = v * 10 + (s_[i_++] - '0');
    }
    if (peek() == 'L') ++i_;  // Python 2 long, as NumPy itself accepts
    return v;
  }
  Shape shape() {
    expect('(');
    std::vector<int64_t> dims;
    bool comma_after_last = false;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (dims.size() >= size_t(Shape::kMaxRank))
        fail("shape has more than ", Shape::kMaxRank, " dimensions, graft's maximum");
      dims.push_back(integer());
      skip_space();
      comma_after_last = peek() == ',';
      if (comma_after_last) {
        ++i_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++i_;
    if (dims.size() == 1 && !comma_after_last) fail("shape (", dims[0], ") is not a tuple (missing ',')");
    try {
      return Shape(dims);
    } catch (const Error& e) {
      fail(e.what());
    }
  }

  const std::string& s_;
  const Input& in_;
  uint64_t start_;
  size_t i_ = 0;
};

inline void parse_descr(NpyHeader& h, const Input& in, uint64_t at) {
  const std::string& d = h.descr;
  const bool has_order = !d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=');
  const char order = has_order ? d[0] : '=';
  const std::string code = has_order ? d.substr(1) : d;
  if (code == "O" || code == "O8") {
    h.object = true;
    return;
  }
  if (!parse_dtype_code(code, h.dtype))
    in.fail_at(at, "NPY header: unsupported dtype ", quote(d),
               " (graft reads bool, int8..int64, uint8..uint64, float16, float32 and float64)");
  h.swap = needs_swap(order, h.dtype);
}

}  // namespace detail

// Reads the magic, version and header; leaves `in` at the first data byte.
inline NpyHeader read_npy_header(Input& in, const ReadLimits& limits = {}) {
  unsigned char pre[8];
  in.read(pre, 8, "the NPY magic and version");
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (std::memcmp(pre, magic, 6) != 0)
    in.fail_at(0, "not an NPY file (starts with ", hex_bytes(pre, 6), ", expected 93 4e 55 4d 50 59 = \\x93NUMPY)");
  NpyHeader h;
  h.major = pre[6];
  h.minor = pre[7];
  if (!((h.major == 1 || h.major == 2 || h.major == 3) && h.minor == 0))
    in.fail_at(6, "unsupported NPY version ", h.major, ".", h.minor, " (graft reads 1.0, 2.0 and 3.0)");
  unsigned char len[4] = {};
  in.read(len, h.major == 1 ? 2 : 4, "the NPY header length");
  const uint64_t n = load_le(len, h.major == 1 ? 2 : 4);
  if (n > limits.max_header_bytes)
    in.fail("NPY header length ", n, " exceeds the limit of ", limits.max_header_bytes, " bytes");
  const uint64_t start = in.position();
  std::string text(static_cast<size_t>(n), '\0');
  in.read(&text[0], n, "the NPY header");
  if (h.major == 3 && !valid_utf8(text)) in.fail_at(start, "NPY 3.0 header is not valid UTF-8");
  NpyHeader parsed = detail::HeaderParser(text, in, start).parse();
  h.descr = parsed.descr;
  h.fortran_order = parsed.fortran_order;
  h.shape = parsed.shape;
  detail::parse_descr(h, in, start);
  return h;
}

// Reads the data that follows a (non-object) header; it must fill the input exactly.
inline Array read_npy_data(Input& in, const NpyHeader& h, const ReadLimits& limits = {}) {
  GRAFT_CHECK(!h.object, in.name(), ": holds pickled Python objects (descr ", quote(h.descr),
              "), not a plain array; a caffe-tensorflow weights file is read with read_weights()");
  const uint64_t want = Array::byte_count(h.dtype, h.shape);
  if (want > limits.max_array_bytes)
    in.fail("array of ", dtype_name(h.dtype), " ", h.shape.str(), " needs ", want,
            " bytes, over the limit of ", limits.max_array_bytes);
  if (in.remaining() != want)
    in.fail("the header's ", dtype_name(h.dtype), " ", h.shape.str(), " needs ", want,
            " bytes of data, but ", in.remaining(), " bytes follow the header",
            in.remaining() < want ? " (truncated file?)" : " (trailing bytes: the header lies?)");
  std::vector<uint8_t> bytes;
  in.read_vector(bytes, want, "the array data");
  if (h.swap) swap_bytes(bytes.data(), static_cast<size_t>(h.shape.numel()), itemsize(h.dtype));
  if (h.fortran_order && h.shape.rank() > 1) bytes = fortran_to_c(bytes, h.shape, itemsize(h.dtype));
  return Array(h.dtype, h.shape, std::move(bytes));
}

inline Array read_npy(Input& in, const ReadLimits& limits = {}) {
  const NpyHeader h = read_npy_header(in, limits);
  return read_npy_data(in, h, limits);
}

inline Array read_npy(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  RangeInput in(src);
  return read_npy(in, limits);
}

// The array of an .npy file as a host tensor of T (Cast::convert to accept another dtype).
template <class T>
Tensor<T> read_npy_tensor(const std::string& path, Cast cast = Cast::exact, const ReadLimits& limits = {}) {
  return read_npy(path, limits).to_tensor<T>(cast, path);
}

// ---- writing ----

// Magic, version, header and padding for an array of `descr` and `shape`, as NumPy writes
// them: version 1.0 unless the header needs more than 65535 bytes, the whole prefix a
// multiple of 64 bytes so that the data is aligned.
inline std::string npy_prefix(const std::string& descr_text, const Shape& shape) {
  std::string dict = "{'descr': '" + descr_text + "', 'fortran_order': False, 'shape': " + shape.str() + ", }";
  for (int major : {1, 2}) {
    const size_t fixed = 6 + 2 + (major == 1 ? 2 : 4);
    const size_t total = (fixed + dict.size() + 1 + 63) / 64 * 64;  // +1: the '\n'
    const size_t hlen = total - fixed;
    if (major == 1 && hlen > 0xffff) continue;
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    for (size_t i = 0; i < fixed - 8; ++i) out += static_cast<char>((hlen >> (8 * i)) & 0xff);
    out += dict;
    out.append(hlen - dict.size() - 1, ' ');
    out += '\n';
    return out;
  }
  GRAFT_FAIL("NPY header too long");
}

// Writes an array as NPY bytes into `out` (anything with write(const void*, size_t)).
template <class Out>
void write_npy_bytes(Out& out, const Array& a) {
  const std::string prefix = npy_prefix(descr(a.dtype()), a.shape());
  out.write(prefix.data(), prefix.size());
  out.write(a.data(), a.nbytes());
}

inline void write_npy(const std::string& path, const Array& a) {
  AtomicFile f(path);
  write_npy_bytes(f, a);
  f.commit();
}

template <class T>
void write_npy(const std::string& path, const Tensor<T>& t) {
  write_npy(path, Array::from_tensor(t));
}

}  // namespace io
}  // namespace graft
