// File helpers shared by the dataset builders: listing image files and reading text lists.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace data {

// Whether a file name ends in .jpg, .jpeg or .png (any case).
inline bool has_image_extension(const std::string& filename) {
  auto dot = filename.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = filename.substr(dot + 1);
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

// Lists image files (regular files with an image extension, not hidden) of a folder, sorted by name.
inline std::vector<std::string> list_image_files(const std::filesystem::path& dir) {
  std::error_code ec;
  GRAFT_CHECK(std::filesystem::is_directory(dir, ec), dir.string(), ": not a folder",
              ec ? " (" + ec.message() + ")" : std::string());
  std::vector<std::string> names;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.empty() || n[0] == '.' || !has_image_extension(n)) continue;
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    names.push_back(std::move(n));
  }
  GRAFT_CHECK(!ec, dir.string(), ": cannot list the folder (", ec.message(), ")");
  std::sort(names.begin(), names.end());
  return names;
}

// The lines of a text file, without their line ends (LF or CRLF).
inline std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  GRAFT_CHECK(in, file.string(), ": cannot open");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  GRAFT_CHECK(in.eof(), file.string(), ": read error after ", lines.size(), " lines");
  return lines;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

inline bool file_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

}  // namespace data
}  // namespace graft
