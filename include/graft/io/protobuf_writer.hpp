// The protobuf wire format, written: a message is built in memory field by field, and a
// sub-message is another Writer appended as a length-delimited field. Enough for ONNX files
// (onnx.hpp); the reader is protobuf.hpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace graft {
namespace io {
namespace pb {

class Writer {
 public:
  void varint_field(uint32_t number, uint64_t v) {
    tag(number, 0);
    varint(v);
  }
  // A signed integer as protobuf's int64 writes it (two's complement, 10 bytes when negative).
  void int_field(uint32_t number, int64_t v) { varint_field(number, static_cast<uint64_t>(v)); }
  void float_field(uint32_t number, float v) {
    tag(number, 5);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) out_.push_back(char((bits >> (8 * i)) & 0xff));
  }
  void bytes_field(uint32_t number, const void* data, size_t n) {
    tag(number, 2);
    varint(n);
    out_.append(static_cast<const char*>(data), n);
  }
  void string_field(uint32_t number, const std::string& s) { bytes_field(number, s.data(), s.size()); }
  void message_field(uint32_t number, const Writer& m) { bytes_field(number, m.out_.data(), m.out_.size()); }
  // A packed repeated int64 (one length-delimited field of varints).
  void packed_ints(uint32_t number, const std::vector<int64_t>& v) {
    Writer p;
    for (int64_t x : v) p.varint(static_cast<uint64_t>(x));
    bytes_field(number, p.out_.data(), p.out_.size());
  }
  // A packed repeated float (little-endian 4-byte values).
  void packed_floats(uint32_t number, const std::vector<float>& v) {
    std::string b(v.size() * 4, '\0');
    for (size_t i = 0; i < v.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &v[i], 4);
      for (int k = 0; k < 4; ++k) b[4 * i + size_t(k)] = char((bits >> (8 * k)) & 0xff);
    }
    bytes_field(number, b.data(), b.size());
  }

  const std::string& bytes() const { return out_; }
  size_t size() const { return out_.size(); }

 private:
  void tag(uint32_t number, unsigned wire) { varint((uint64_t(number) << 3) | wire); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(char((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(char(v));
  }
  std::string out_;
};

}  // namespace pb
}  // namespace io
}  // namespace graft
