// Shared by the libFuzzer targets: small limits (so a run explores rather than allocates),
// and the rule that the only exception a parser may throw is graft::Error.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

#include "graft/io/array.hpp"
#include "graft/io/limits.hpp"

namespace graft {
namespace fuzz {

inline io::ReadLimits limits() {
  io::ReadLimits l;
  l.max_array_bytes = uint64_t(64) << 20;
  l.max_pickle_items = uint64_t(1) << 16;
  l.max_zip_entries = 1024;
  l.max_zip_directory_bytes = uint64_t(1) << 20;
  return l;
}

struct Sink {
  std::string s;
  void write(const void* p, size_t n) { s.append(static_cast<const char*>(p), n); }
};

inline bool same(const io::Array& a, const io::Array& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

// An invariant broken: libFuzzer records the input as a crash.
#define GRAFT_FUZZ_ASSERT(cond) \
  do {                          \
    if (!(cond)) std::abort();  \
  } while (0)

}  // namespace fuzz
}  // namespace graft
