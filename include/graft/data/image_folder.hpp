// A class-per-folder dataset, for users' own images:
//   root/<class name>/**/<image>.jpg|.jpeg|.png
// Classes are the sub-folders of root in sorted order (label i = i-th name), images are found
// recursively inside each and sorted by their path, so the dataset is the same on every
// machine. Hidden files and folders and files without an image extension are ignored.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/files.hpp"

namespace graft {
namespace data {

inline Dataset image_folder(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  GRAFT_CHECK(fs::is_directory(root, ec), root.string(), ": not a folder");
  Dataset d;
  d.name = root.filename().string().empty() ? root.parent_path().filename().string() : root.filename().string();

  std::vector<std::string> classes;
  fs::directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    std::error_code dec;
    if (!n.empty() && n[0] != '.' && it->is_directory(dec)) classes.push_back(n);
  }
  GRAFT_CHECK(!ec, root.string(), ": cannot list the folder (", ec.message(), ")");
  GRAFT_CHECK(!classes.empty(), root.string(), ": no class folders (expected root/<class>/<images>)");
  std::sort(classes.begin(), classes.end());
  d.classes = classes;

  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> files;
    const fs::path dir = root / classes[c];
    fs::recursive_directory_iterator r(dir, fs::directory_options::follow_directory_symlink, ec), rend;
    for (; !ec && r != rend; r.increment(ec)) {
      std::string n = r->path().filename().string();
      std::error_code fec;
      if (!n.empty() && n[0] == '.') {
        if (r->is_directory(fec)) r.disable_recursion_pending();
        continue;
      }
      if (has_image_extension(n) && r->is_regular_file(fec)) files.push_back(r->path().string());
    }
    GRAFT_CHECK(!ec, dir.string(), ": cannot list the folder (", ec.message(), ")");
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      Sample s;
      s.path = std::move(f);
      s.label = static_cast<int32_t>(c);
      d.samples.push_back(std::move(s));
    }
  }
  return d;
}

}  // namespace data
}  // namespace graft
