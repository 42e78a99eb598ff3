// AtomicFile: writes a file under a temporary name beside it and renames it into place on
// commit(), so a reader (or a crash halfway) never sees a half-written weights file, and an
// existing file is replaced only by a complete one.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "graft/core/error.hpp"

namespace graft {
namespace io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      tmp_ = path_ + ".graft-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
      // 0666 less the umask: the permissions any other new file would get.
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) GRAFT_FAIL(path_, ": cannot create ", tmp_, ": ", std::strerror(errno));
    }
    if (fd_ < 0) GRAFT_FAIL(path_, ": cannot create a temporary file beside it");
    buf_.reserve(kBuffer);
  }
  ~AtomicFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t tell() const { return written_ + buf_.size(); }

  void write(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    if (buf_.size() + n > kBuffer) flush();
    if (n >= kBuffer) {
      raw_write(p, n);
      return;
    }
    buf_.insert(buf_.end(), p, p + n);
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Overwrites bytes already written (a zip local header, once its sizes are known).
  void write_at(uint64_t offset, const void* data, size_t n) {
    flush();
    const auto* p = static_cast<const unsigned char*>(data);
    while (n > 0) {
      const ssize_t k = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) GRAFT_FAIL(path_, ": write failed: ", std::strerror(errno));
      p += k;
      n -= static_cast<size_t>(k);
      offset += static_cast<uint64_t>(k);
    }
  }
  // Flushes, syncs and renames over `path`. Without it the temporary file is removed.
  void commit() {
    flush();
    if (::fsync(fd_) != 0) GRAFT_FAIL(path_, ": fsync failed: ", std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) {
      ::unlink(tmp_.c_str());
      GRAFT_FAIL(path_, ": close failed: ", std::strerror(errno));
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp_.c_str());
      GRAFT_FAIL(path_, ": cannot rename ", tmp_, " into place: ", std::strerror(e));
    }
  }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  void flush() {
    if (!buf_.empty()) raw_write(buf_.data(), buf_.size());
    buf_.clear();
  }
  void raw_write(const unsigned char* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) GRAFT_FAIL(path_, ": write failed: ", std::strerror(errno));
      p += k;
      n -= static_cast<size_t>(k);
      written_ += static_cast<uint64_t>(k);
    }
  }

  std::string path_, tmp_;
  int fd_ = -1;
  std::vector<unsigned char> buf_;
  uint64_t written_ = 0;
};

}  // namespace io
}  // namespace graft
