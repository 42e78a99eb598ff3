// Adience: the benchmark's own fold files and folder layout.
//
// A fold file (fold_N_data.txt) is tab-separated with the header
//   user_id original_image face_id age gender x y dx dy tilt_ang fiducial_yaw_angle fiducial_score
// gender is m, f, u or empty (u and empty: unknown); age is "(a, b)", "None" or a bare number.
// The aligned face of a row is faces/<user_id>/coarse_tilt_aligned_face.<face_id>.<original_image>.
//
// Two labellings: 2 classes (male, female; rows of unknown gender are left out and counted as
// "unknown label") or 3 classes (male, female, other). A row whose image file is not there is
// left out and counted as "image missing" (the label is looked at first, so with 2 classes an
// unknown-gender row counts as unknown label even when its image is missing too). A row with too
// few fields or an unreadable age or face id is left out as "malformed row". A file that is
// not a fold file (wrong header) is an error.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/files.hpp"

namespace graft {
namespace data {

struct AdienceOptions {
  int classes = 2;  // 2: male, female; 3: male, female, other
};

// Parses "(25, 32)", "35" or "None" (age unknown: -1, -1).
inline bool parse_adience_age(const std::string& s, int32_t& lo, int32_t& hi) {
  int64_t a, b;
  if (s == "None") {
    lo = hi = -1;
    return true;
  }
  if (parse_uint(s, a, 150)) {
    lo = hi = int32_t(a);
    return true;
  }
  if (s.size() < 5 || s.front() != '(' || s.back() != ')') return false;
  auto comma = s.find(',');
  if (comma == std::string::npos) return false;
  std::string first = s.substr(1, comma - 1), second = s.substr(comma + 1, s.size() - comma - 2);
  while (!second.empty() && second.front() == ' ') second.erase(0, 1);
  if (!parse_uint(first, a, 150) || !parse_uint(second, b, 150) || a > b) return false;
  lo = int32_t(a);
  hi = int32_t(b);
  return true;
}

// One fold file; images are looked up under `faces_dir`. `fold` is stored in each Sample.
inline Dataset adience_fold(const std::filesystem::path& fold_file, const std::filesystem::path& faces_dir, int fold,
                            const AdienceOptions& options = {}) {
  GRAFT_CHECK(options.classes == 2 || options.classes == 3, "adience: classes must be 2 or 3, got ",
              options.classes);
  const std::string where = fold_file.string();
  Dataset d;
  d.name = "adience fold " + std::to_string(fold);
  d.classes = {"male", "female"};
  if (options.classes == 3) d.classes.push_back("other");

  std::vector<std::string> lines = read_lines(fold_file);
  GRAFT_CHECK(!lines.empty(), where, ": empty file, expected an Adience fold file");
  const std::vector<std::string> header = split(lines[0], '\t');
  const char* expected[] = {"user_id", "original_image", "face_id", "age", "gender"};
  bool ok = header.size() >= 5;
  for (int i = 0; ok && i < 5; ++i) ok = header[size_t(i)] == expected[i];
  GRAFT_CHECK(ok, where, ": not an Adience fold file: the header should start with "
              "user_id, original_image, face_id, age, gender (tab-separated), got '", lines[0], "'");

  for (size_t ln = 1; ln < lines.size(); ++ln) {
    if (lines[ln].empty()) continue;
    const std::string row = where + ":" + std::to_string(ln + 1);
    std::vector<std::string> f = split(lines[ln], '\t');
    int64_t face_id;
    Sample s;
    if (f.size() < 5 || f[0].empty() || f[1].empty() || !parse_uint(f[2], face_id)) {
      d.skipped.push_back({row, SkipReason::MalformedRow,
                           f.size() < 5 ? std::to_string(f.size()) + " fields, expected at least 5"
                                        : "empty user or image, or face id '" + (f.size() > 2 ? f[2] : "") + "' not a number"});
      continue;
    }
    if (!parse_adience_age(f[3], s.age_min, s.age_max)) {
      d.skipped.push_back({row, SkipReason::MalformedRow, "age '" + f[3] + "'"});
      continue;
    }
    const std::string& g = f[4];
    if (g == "m") {
      s.label = 0;
    } else if (g == "f") {
      s.label = 1;
    } else if (g == "u" || g.empty()) {
      if (options.classes == 2) {
        d.skipped.push_back({row, SkipReason::UnknownLabel, "gender '" + g + "'"});
        continue;
      }
      s.label = 2;
    } else {
      d.skipped.push_back({row, SkipReason::MalformedRow, "gender '" + g + "' is not m, f, u or empty"});
      continue;
    }
    std::filesystem::path img = faces_dir / f[0] / ("coarse_tilt_aligned_face." + f[2] + "." + f[1]);
    if (!file_exists(img)) {
      d.skipped.push_back({img.string(), SkipReason::MissingImage, "listed at " + row});
      continue;
    }
    s.path = img.string();
    s.fold = fold;
    s.subject = f[0];
    d.samples.push_back(std::move(s));
  }
  return d;
}

// Folds of the standard layout: <root>/fold_<k>_data.txt and <root>/faces/.
inline Dataset adience(const std::filesystem::path& root, const std::vector<int>& folds,
                       const AdienceOptions& options = {}) {
  GRAFT_CHECK(!folds.empty(), "adience: no fold given");
  Dataset d;
  std::string names;
  for (int k : folds) {
    Dataset f = adience_fold(root / ("fold_" + std::to_string(k) + "_data.txt"), root / "faces", k, options);
    if (names.empty()) {
      d = std::move(f);
    } else {
      d.append(f);
    }
    names += (names.empty() ? "" : ",") + std::to_string(k);
  }
  d.name = std::string("adience fold") + (folds.size() > 1 ? "s " : " ") + names;
  return d;
}

}  // namespace data
}  // namespace graft
