// A CSV list of labelled images, for users' own data: one `path,label` per line.
//
// - An optional first line `path,label` is a header. Empty lines and lines starting with '#'
//   are ignored. The label is what follows the last comma, so paths may contain commas.
// - Relative paths are relative to `base_dir` (by default the folder of the CSV file).
// - Labels are class ids (0, 1, ...) or class names. Without options.classes, ids name
//   classes "0".."max" and names become the sorted list of the names used. Give
//   options.classes to fix the classes (and so the ids) across train/validation lists.
// - A line without a comma, with an empty path or label, or with a label that is not one of
//   options.classes is an error naming the file and line. Listed images that do not exist
//   are left out and counted as "image missing".
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/files.hpp"

namespace graft {
namespace data {

struct CsvOptions {
  std::vector<std::string> classes;  // empty: taken from the labels
  std::filesystem::path base_dir;    // empty: the CSV file's folder
};

namespace detail {
inline std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}
}  // namespace detail

inline Dataset csv_list(const std::filesystem::path& csv_file, const CsvOptions& options = {}) {
  namespace fs = std::filesystem;
  const std::string where = csv_file.string();
  const fs::path base = options.base_dir.empty() ? csv_file.parent_path() : options.base_dir;
  struct Row {
    std::string path, label, line;
  };
  std::vector<Row> rows;
  std::vector<std::string> lines = read_lines(csv_file);
  bool first = true;
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    std::string line = detail::trim(lines[ln]);
    if (line.empty() || line[0] == '#') continue;
    const std::string at = where + ":" + std::to_string(ln + 1);
    size_t comma = line.rfind(',');
    GRAFT_CHECK(comma != std::string::npos, at, ": expected path,label, got '", line, "'");
    std::string path = detail::trim(line.substr(0, comma)), label = detail::trim(line.substr(comma + 1));
    if (first && path == "path" && label == "label") {
      first = false;
      continue;
    }
    first = false;
    GRAFT_CHECK(!path.empty() && !label.empty(), at, ": empty path or label in '", line, "'");
    rows.push_back({path, label, at});
  }

  Dataset d;
  d.name = csv_file.filename().string();
  std::map<std::string, int32_t> by_name;
  bool numeric = options.classes.empty();
  int64_t max_id = -1;
  for (const Row& r : rows) {
    int64_t v;
    if (!parse_uint(r.label, v)) numeric = false;
    else max_id = std::max(max_id, v);
  }
  if (!options.classes.empty()) {
    d.classes = options.classes;
  } else if (numeric) {
    for (int64_t i = 0; i <= max_id; ++i) d.classes.push_back(std::to_string(i));
  } else {
    for (const Row& r : rows) by_name[r.label] = 0;
    for (auto& [n, id] : by_name) d.classes.push_back(n);
  }
  by_name.clear();
  for (size_t i = 0; i < d.classes.size(); ++i) by_name[d.classes[i]] = int32_t(i);

  for (const Row& r : rows) {
    Sample s;
    auto it = by_name.find(r.label);
    int64_t v;
    if (it != by_name.end()) {
      s.label = it->second;
    } else if (!options.classes.empty() && parse_uint(r.label, v) && v < int64_t(d.classes.size())) {
      s.label = int32_t(v);  // an id into the given classes
    } else {
      GRAFT_FAIL(r.line, ": label '", r.label, "' is not one of the ", d.classes.size(), " classes");
    }
    fs::path p(r.path);
    if (p.is_relative()) p = base / p;
    if (!file_exists(p)) {
      d.skipped.push_back({p.string(), SkipReason::MissingImage, "listed at " + r.line});
      continue;
    }
    s.path = p.string();
    d.samples.push_back(std::move(s));
  }
  return d;
}

}  // namespace data
}  // namespace graft
