// Where file bytes come from, and reading them in order with every length checked.
//
// A Source is random access (a file, or memory for the fuzzers and for tests); an Input
// reads a range of it in order. Input::read refuses, before touching memory, any length
// beyond the bytes left, and every message names the file and the offset, so a truncated or
// lying file ends in a graft::Error that says where, never in a crash or a huge allocation.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graft/core/error.hpp"

namespace graft {
namespace io {

class Source {
 public:
  explicit Source(std::string name) : name_(std::move(name)) {}
  virtual ~Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  const std::string& name() const { return name_; }
  virtual uint64_t size() const = 0;
  // Exactly n bytes at offset (offset + n <= size(), which callers check first).
  virtual void read_at(uint64_t offset, void* dst, size_t n) const = 0;

 private:
  std::string name_;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::string& path) : Source(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) GRAFT_FAIL(path, ": cannot open: ", std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      GRAFT_FAIL(path, ": not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, void* dst, size_t n) const override {
    auto* p = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, std::min<size_t>(n, size_t(1) << 30), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) GRAFT_FAIL(name(), ": read error at offset ", offset, ": ", std::strerror(errno));
      if (got == 0) GRAFT_FAIL(name(), ": file ended at offset ", offset, " (was it changed while being read?)");
      p += got;
      n -= static_cast<size_t>(got);
      offset += static_cast<uint64_t>(got);
    }
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Borrowed memory (which must outlive the source).
class MemorySource : public Source {
 public:
  MemorySource(const void* data, size_t size, std::string name)
      : Source(std::move(name)), data_(static_cast<const unsigned char*>(data)), size_(size) {}
  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, void* dst, size_t n) const override {
    if (n) std::memcpy(dst, data_ + offset, n);
  }

 private:
  const unsigned char* data_;
  size_t size_;
};

// Reads bytes in order. remaining() is exact for a stored range and, for a decompressed zip
// entry, the size its directory declares (the stream may then prove shorter).
class Input {
 public:
  explicit Input(std::string name) : name_(std::move(name)) {}
  virtual ~Input() = default;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  const std::string& name() const { return name_; }
  uint64_t position() const { return pos_; }  // bytes consumed so far
  virtual uint64_t remaining() const = 0;
  // The location of byte `pos` of this input, for messages: "offset 1234".
  virtual std::string where(uint64_t pos) const = 0;
  std::string where() const { return where(pos_); }

  // Exactly n bytes, or a graft::Error naming `what`, the offset and the bytes left.
  void read(void* dst, uint64_t n, const char* what) {
    if (n > remaining())
      fail(what, " needs ", n, n == 1 ? " byte" : " bytes", ", but only ", remaining(), " are left (truncated file or wrong size?)");
    get(dst, static_cast<size_t>(n));
    pos_ += n;
  }
  uint8_t byte(const char* what) {
    uint8_t b;
    read(&b, 1, what);
    return b;
  }
  // n bytes into `out`. When n is only declared (a compressed entry), `out` grows as the
  // data arrives instead of being allocated up front, so a lying size costs no memory.
  void read_vector(std::vector<uint8_t>& out, uint64_t n, const char* what) {
    if (n > remaining())
      fail(what, " needs ", n, " bytes, but only ", remaining(), " are left (truncated file or wrong size?)");
    out.clear();
    const uint64_t step = declared_only() ? uint64_t(64) << 20 : n;
    for (uint64_t done = 0; done < n;) {
      const uint64_t k = std::min(step, n - done);
      out.resize(static_cast<size_t>(done + k));
      read(out.data() + done, k, what);
      done += k;
    }
  }

  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    fail_at(pos_, std::forward<Parts>(parts)...);
  }
  template <class... Parts>
  [[noreturn]] void fail_at(uint64_t pos, Parts&&... parts) const {
    throw Error(name_ + ": " + where(pos) + ": " + graft::detail::concat(std::forward<Parts>(parts)...));
  }

 protected:
  virtual void get(void* dst, size_t n) = 0;  // n <= remaining(); throws on failure
  virtual bool declared_only() const { return false; }

 private:
  std::string name_;
  uint64_t pos_ = 0;
};

// Bytes [begin, end) of a source, buffered so that byte-by-byte parsing stays fast.
class RangeInput : public Input {
 public:
  RangeInput(const Source& src, uint64_t begin, uint64_t end, std::string name = "")
      : Input(name.empty() ? src.name() : std::move(name)), src_(src), next_(begin), end_(end), begin_(begin) {
    GRAFT_CHECK(begin <= end && end <= src.size(), src.name(), ": range ", begin, "..", end,
                " lies outside the file (", src.size(), " bytes)");
  }
  explicit RangeInput(const Source& src) : RangeInput(src, 0, src.size()) {}
  uint64_t remaining() const override { return (end_ - next_) + (buf_.size() - head_); }
  std::string where(uint64_t pos) const override { return "offset " + std::to_string(begin_ + pos); }

 protected:
  void get(void* dst, size_t n) override {
    auto* out = static_cast<unsigned char*>(dst);
    const size_t have = std::min(n, buf_.size() - head_);
    if (have) std::memcpy(out, buf_.data() + head_, have);
    head_ += have;
    out += have;
    n -= have;
    if (n == 0) return;
    if (n >= kBuffer) {  // large reads go straight to the destination
      src_.read_at(next_, out, n);
      next_ += n;
      return;
    }
    const size_t k = static_cast<size_t>(std::min<uint64_t>(kBuffer, end_ - next_));
    buf_.resize(k);
    src_.read_at(next_, buf_.data(), k);
    next_ += k;
    std::memcpy(out, buf_.data(), n);
    head_ = n;
  }

 private:
  static constexpr size_t kBuffer = 64 << 10;
  const Source& src_;
  uint64_t next_, end_, begin_;
  std::vector<unsigned char> buf_;
  size_t head_ = 0;
};

// Little-endian integers from raw bytes (zip and pickle fields are little-endian).
inline uint64_t load_le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace io
}  // namespace graft
