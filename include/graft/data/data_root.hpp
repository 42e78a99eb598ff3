// Where the third-party data lives (UTKFace, Adience, converted weights): one rule for tests,
// examples and benchmarks, so that none of them hard-codes a path.
//
// The environment variable GRAFT_DATA wins when set and non-empty; otherwise the data is
// expected in ../shared/data beside the checkout (`source_dir` is the repository root).
// Nothing here checks that the folder exists: callers that need it skip or fail with a
// message naming the path they looked at.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace graft {
namespace data {

inline std::filesystem::path data_root(const std::filesystem::path& source_dir) {
  if (const char* env = std::getenv("GRAFT_DATA"); env && *env) return std::filesystem::path(env);
  return (source_dir / ".." / "shared" / "data").lexically_normal();
}

// A folder inside the data root, e.g. data_dir(GRAFT_SOURCE_DIR, "utkface").
inline std::filesystem::path data_dir(const std::filesystem::path& source_dir, const std::string& name) {
  return data_root(source_dir) / name;
}

}  // namespace data
}  // namespace graft
