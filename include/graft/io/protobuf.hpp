// A bounded reader of the protobuf wire format, enough to read Caffe's .caffemodel without
// libprotobuf (so graft stays header-only and needs nothing more for Caffe files).
//
// The wire format: a message is a sequence of fields; each starts with a varint tag
// (field number << 3 | wire type) followed by a varint (type 0), 8 bytes (1), a varint
// length and that many bytes (2: strings, sub-messages, packed repeated scalars) or 4 bytes
// (5). Types 3 and 4 (groups) are deprecated; caffe.proto never uses them and this reader
// refuses them rather than guess their nesting.
//
// Safety: the reader knows where the current message ends (the file's end at the top, a
// length-delimited field's end inside it) and checks every tag, varint and length against
// it before anything is read, skipped or allocated. Sub-messages nest at most
// ReadLimits::max_nesting deep. A field the caller does not consume is skipped by its wire
// type, so unknown fields cost nothing. Every error names the file and the byte offset.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {
namespace pb {

enum class Wire : uint8_t { varint = 0, fixed64 = 1, len = 2, group_start = 3, group_end = 4, fixed32 = 5 };

inline const char* wire_name(Wire w) {
  switch (w) {
    case Wire::varint: return "varint";
    case Wire::fixed64: return "64-bit";
    case Wire::len: return "length-delimited";
    case Wire::group_start: return "start-group";
    case Wire::group_end: return "end-group";
    case Wire::fixed32: return "32-bit";
  }
  return "?";
}

struct Field {
  uint32_t number = 0;
  Wire wire = Wire::varint;
  uint64_t value = 0;   // varint: the value; fixed32/fixed64: the bits; len: the length
  uint64_t offset = 0;  // where the tag starts in the file
  uint64_t data = 0;    // len: where the payload starts
};

class Reader {
 public:
  // Reads the message in bytes [begin, end) of `src`.
  Reader(const Source& src, uint64_t begin, uint64_t end, int max_nesting = 32)
      : src_(src), pos_(begin), max_nesting_(max_nesting) {
    GRAFT_CHECK(begin <= end && end <= src.size(), src.name(), ": range ", begin, "..", end,
                " lies outside the file (", src.size(), " bytes)");
    ends_.push_back(end);
  }
  explicit Reader(const Source& src, int max_nesting = 32) : Reader(src, 0, src.size(), max_nesting) {}

  const std::string& name() const { return src_.name(); }
  uint64_t position() const { return pos_; }
  // Where the current message ends.
  uint64_t end() const { return ends_.back(); }
  uint64_t left() const { return end() - pos_; }
  int depth() const { return static_cast<int>(ends_.size()) - 1; }

  // The next field of the current message, or false at its end. The payload of the previous
  // field, if the caller left it, is skipped first.
  bool next(Field& f) {
    skip_pending();
    if (pos_ == end()) return false;
    f = Field();
    f.offset = pos_;
    const uint64_t tag = varint("field tag");
    const uint64_t number = tag >> 3;
    const unsigned wire = static_cast<unsigned>(tag & 7);
    if (number == 0 || number > kMaxFieldNumber)
      fail_at(f.offset, "field number ", number, " is outside 1..", kMaxFieldNumber, " (not protobuf data?)");
    f.number = static_cast<uint32_t>(number);
    switch (wire) {
      case 0:
        f.wire = Wire::varint;
        f.value = varint("varint field");
        break;
      case 1:
        f.wire = Wire::fixed64;
        f.value = fixed(8, "64-bit field");
        break;
      case 5:
        f.wire = Wire::fixed32;
        f.value = fixed(4, "32-bit field");
        break;
      case 2: {
        f.wire = Wire::len;
        f.value = varint("field length");
        f.data = pos_;
        if (f.value > left())
          fail_at(f.offset, "field ", f.number, " claims ", f.value, " bytes, but only ", left(),
                  " are left in its message (truncated or corrupt file)");
        pending_ = f.value;
        break;
      }
      case 3:
      case 4:
        fail_at(f.offset, "field ", f.number, " is a group (wire type ", wire,
                "), which neither caffe.proto nor onnx.proto uses: not such a model, or a corrupt one");
      default:
        fail_at(f.offset, "field ", f.number, " has wire type ", wire, ", which protobuf does not define");
    }
    return true;
  }

  // Insists that f has wire type `w` (`what` names the field for the message).
  void expect(const Field& f, Wire w, const std::string& what) const {
    if (f.wire != w)
      fail_at(f.offset, what, " (field ", f.number, ") has wire type ", static_cast<int>(f.wire), " (",
              wire_name(f.wire), "), expected ", static_cast<int>(w), " (", wire_name(w), ")");
  }

  // Continues inside the length-delimited field f (just returned by next()) until leave().
  void enter(const Field& f, const std::string& what) {
    expect(f, Wire::len, what);
    GRAFT_CHECK(pending_ == f.value && pos_ == f.data, "protobuf reader: enter() must follow next()");
    if (depth() >= max_nesting_)
      fail_at(f.offset, what, " is nested more than ", max_nesting_, " messages deep");
    pending_ = 0;
    ends_.push_back(f.data + f.value);
  }
  // Leaves the message entered last, skipping what the caller did not read of it.
  void leave() {
    GRAFT_CHECK(ends_.size() > 1, "protobuf reader: leave() without enter()");
    skip_pending();
    pos_ = ends_.back();
    ends_.pop_back();
  }

  // The payload of a length-delimited field as bytes (at most max_bytes).
  std::string bytes(const Field& f, uint64_t max_bytes, const std::string& what) {
    take(f, what);
    if (f.value > max_bytes) fail_at(f.offset, what, " is ", f.value, " bytes long, more than the limit of ", max_bytes);
    std::string s(static_cast<size_t>(f.value), '\0');
    read(&s[0], f.value);
    return s;
  }

  // Raw payload of a length-delimited field appended to `out` (the caller bounds the size).
  void append_payload(const Field& f, std::vector<uint8_t>& out, const std::string& what) {
    take(f, what);
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(f.value));
    read(out.data() + at, f.value);
  }

  // Each varint of a packed repeated field, passed to each(value).
  template <class F>
  void packed_varints(const Field& f, const std::string& what, F&& each) {
    take(f, what);
    ends_.push_back(f.data + f.value);  // varints may not run past the field
    while (pos_ < end()) each(varint(what.c_str()));
    ends_.pop_back();
  }

  template <class... Parts>
  [[noreturn]] void fail_at(uint64_t offset, Parts&&... parts) const {
    throw Error(src_.name() + ": offset " + std::to_string(offset) + ": " +
                graft::detail::concat(std::forward<Parts>(parts)...));
  }

  static constexpr uint64_t kMaxFieldNumber = (uint64_t(1) << 29) - 1;

 private:
  // A varint of at most 10 bytes that ends before the current message does.
  uint64_t varint(const char* what) {
    const uint64_t start = pos_;
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= end()) fail_at(start, what, ": varint runs past the end of its message (truncated file?)");
      const uint8_t b = byte();
      if (i == 9 && b > 1) fail_at(start, what, ": varint does not fit in 64 bits");
      v |= uint64_t(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    fail_at(start, what, ": varint longer than 10 bytes");
  }
  uint64_t fixed(int n, const char* what) {
    if (left() < uint64_t(n))
      fail_at(pos_, what, " needs ", n, " bytes, but only ", left(), " are left in its message (truncated file?)");
    unsigned char b[8];
    read(b, static_cast<uint64_t>(n));
    return load_le(b, n);
  }
  // Marks a length-delimited field's payload as consumed by the caller.
  void take(const Field& f, const std::string& what) {
    expect(f, Wire::len, what);
    GRAFT_CHECK(pending_ == f.value && pos_ == f.data, "protobuf reader: a payload is read right after next()");
    pending_ = 0;
  }
  void skip_pending() {
    pos_ += pending_;
    pending_ = 0;
  }

  uint8_t byte() {
    if (pos_ < buf_at_ || pos_ >= buf_at_ + buf_.size()) fill();
    return buf_[static_cast<size_t>(pos_++ - buf_at_)];
  }
  // n bytes at pos_ (n <= bytes left in the file, which every caller has checked).
  void read(void* dst, uint64_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    if (n >= kBuffer) {  // large payloads go straight to their destination
      src_.read_at(pos_, out, static_cast<size_t>(n));
      pos_ += n;
      return;
    }
    for (uint64_t i = 0; i < n; ++i) out[i] = byte();
  }
  void fill() {
    buf_at_ = pos_;
    const uint64_t k = std::min<uint64_t>(kBuffer, src_.size() - pos_);
    buf_.resize(static_cast<size_t>(k));
    src_.read_at(pos_, buf_.data(), buf_.size());
  }

  static constexpr uint64_t kBuffer = 64 << 10;
  const Source& src_;
  uint64_t pos_;
  std::vector<uint64_t> ends_;  // end of each message entered; ends_[0] is the outermost
  uint64_t pending_ = 0;        // unread payload of the last length-delimited field
  int max_nesting_;
  std::vector<unsigned char> buf_;
  uint64_t buf_at_ = 0;
};

}  // namespace pb
}  // namespace io
}  // namespace graft
