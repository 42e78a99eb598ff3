// Raw deflate streams (zip method 8) through zlib: an Input that inflates a zip entry as it
// is read, and a Deflater that compresses what is written into a sink.
//
// The inflating input never trusts the sizes in the zip directory: it produces at most the
// declared size, and the stream must end exactly there, so a lying entry is an error
// rather than silently short or long data.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <zlib.h>

#include "graft/io/source.hpp"

namespace graft {
namespace io {

class InflateInput : public Input {
 public:
  // Compressed bytes [begin, begin + csize) of src, declared to inflate to usize bytes.
  InflateInput(const Source& src, uint64_t begin, uint64_t csize, uint64_t usize, std::string name)
      : Input(std::move(name)), src_(src), next_(begin), end_(begin + csize), usize_(usize), begin_(begin) {
    z_.zalloc = Z_NULL;
    z_.zfree = Z_NULL;
    z_.opaque = Z_NULL;
    z_.next_in = Z_NULL;
    z_.avail_in = 0;
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) GRAFT_FAIL(this->name(), ": cannot start zlib inflate");
  }
  ~InflateInput() override { inflateEnd(&z_); }

  uint64_t remaining() const override { return usize_ - produced_; }
  std::string where(uint64_t pos) const override {
    return "byte " + std::to_string(pos) + " of the inflated entry (compressed data at offset " +
           std::to_string(begin_) + ")";
  }
  uint32_t crc() const { return crc_; }

  // Called after the declared size has been read: the stream must end here and use up all
  // of its compressed bytes.
  void finish() {
    while (!ended_) {
      unsigned char extra;
      z_.next_out = &extra;
      z_.avail_out = 1;
      const int rc = step();
      if (z_.avail_out == 0)
        fail("the entry inflates to more than the ", usize_, " bytes its zip directory declares");
      if (rc == Z_STREAM_END) ended_ = true;
    }
    if (z_.avail_in != 0 || next_ != end_)
      fail(z_.avail_in + (end_ - next_), " compressed bytes follow the end of the deflate stream");
  }

 protected:
  bool declared_only() const override { return true; }
  void get(void* dst, size_t n) override {
    auto* out = static_cast<unsigned char*>(dst);
    size_t left = n;
    while (left > 0) {
      if (ended_) fail("the deflate stream ends after ", produced_ + (n - left), " bytes, but the zip directory declares ", usize_);
      const uInt k = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
      z_.next_out = out;
      z_.avail_out = k;
      const int rc = step();
      const size_t got = k - z_.avail_out;
      if (got == 0 && rc == Z_BUF_ERROR) fail("inflate made no progress (corrupt entry?)");
      crc_ = static_cast<uint32_t>(crc32(crc_, out, static_cast<uInt>(got)));
      out += got;
      left -= got;
      if (rc == Z_STREAM_END) ended_ = true;
    }
    produced_ += n;
  }

 private:
  // One inflate call, refilling the input first; throws on corrupt or truncated data.
  int step() {
    if (z_.avail_in == 0 && next_ < end_) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(in_.size(), end_ - next_));
      src_.read_at(next_, in_.data(), k);
      next_ += k;
      z_.next_in = in_.data();
      z_.avail_in = static_cast<uInt>(k);
    }
    const int rc = inflate(&z_, Z_NO_FLUSH);
    if (rc == Z_OK || rc == Z_STREAM_END) return rc;
    if (rc == Z_BUF_ERROR && z_.avail_in == 0 && next_ == end_)
      fail("the compressed data ends before the deflate stream does (truncated entry?)");
    if (rc == Z_BUF_ERROR) return rc;  // no progress possible with this output space; caller loops
    fail("corrupt deflate data (zlib: ", z_.msg ? std::string(z_.msg) : "error " + std::to_string(rc), ")");
  }

  const Source& src_;
  uint64_t next_, end_, usize_, begin_;
  uint64_t produced_ = 0;
  uint32_t crc_ = 0;
  bool ended_ = false;
  z_stream z_{};
  std::vector<unsigned char> in_ = std::vector<unsigned char>(64 << 10);
};

// Compresses what is written to it (raw deflate, zlib's default level, as Python's zipfile)
// and passes the compressed bytes to `out` (anything with write(const void*, size_t)).
template <class Out>
class Deflater {
 public:
  explicit Deflater(Out& out) : out_(out) {
    if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      GRAFT_FAIL("cannot start zlib deflate");
  }
  ~Deflater() { deflateEnd(&z_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  void write(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n > 0) {
      const uInt k = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      z_.next_in = const_cast<unsigned char*>(p);
      z_.avail_in = k;
      pump(Z_NO_FLUSH);
      p += k;
      n -= k;
    }
  }
  void finish() { pump(Z_FINISH); }
  uint64_t compressed() const { return compressed_; }

 private:
  void pump(int flush) {
    for (;;) {
      z_.next_out = buf_.data();
      z_.avail_out = static_cast<uInt>(buf_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) GRAFT_FAIL("zlib deflate failed");
      const size_t got = buf_.size() - z_.avail_out;
      if (got) out_.write(buf_.data(), got);
      compressed_ += got;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) return;
    }
  }
  Out& out_;
  z_stream z_{};
  std::vector<unsigned char> buf_ = std::vector<unsigned char>(256 << 10);
  uint64_t compressed_ = 0;
};

}  // namespace io
}  // namespace graft
