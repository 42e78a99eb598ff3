// Dataset: a list of labelled image files with class names, plus the account of what was
// left out while building it (malformed names, missing images, unknown labels).
//
// Builders (utkface.hpp, adience.hpp, image_folder.hpp, csv_list.hpp) only list files; they
// never decode, so building a dataset of twenty thousand images takes milliseconds. The
// order of samples is deterministic (sorted names, or the order of the list file), which
// splits and loaders rely on for reproducibility.
#pragma once

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace data {

// One labelled image and what else is known about it, for per-group evaluation (e.g. by
// age band or race). Unknown values are -1 or empty.
struct Sample {
  std::string path;
  int32_t label = -1;    // index into Dataset::classes
  int32_t age_min = -1;  // years; UTKFace gives an exact age (age_min == age_max),
  int32_t age_max = -1;  // Adience a range such as (25, 32)
  int32_t race = -1;     // UTKFace: 0 white, 1 black, 2 asian, 3 indian, 4 other
  int32_t fold = -1;     // Adience cross-validation fold
  std::string subject;   // Adience: the Flickr user (the same person recurs under one user)
};

// Age bands for per-group evaluation. Ascending `edges` {0, 13, 20, 30, 45, 60} make the
// bands [0, 13), [13, 20), ..., [60, any). A sample belongs to the band of the middle of its
// age range (rounded down: Adience's (25, 32) counts as 28); -1 when its age is unknown or
// below the first edge.
inline int age_band(const Sample& s, const std::vector<int>& edges) {
  if (s.age_min < 0 || s.age_max < s.age_min) return -1;
  const int age = (s.age_min + s.age_max) / 2;
  int band = -1;
  for (size_t i = 0; i < edges.size(); ++i) {
    GRAFT_CHECK(i == 0 || edges[i] > edges[i - 1], "age bands: edges must increase");
    if (age >= edges[i]) band = static_cast<int>(i);
  }
  return band;
}

// "13-19", "60+".
inline std::string age_band_name(const std::vector<int>& edges, int band) {
  GRAFT_CHECK(band >= 0 && size_t(band) < edges.size(), "age bands: no band ", band, " among ", edges.size());
  if (size_t(band) + 1 == edges.size()) return std::to_string(edges[size_t(band)]) + "+";
  return std::to_string(edges[size_t(band)]) + "-" + std::to_string(edges[size_t(band) + 1] - 1);
}

enum class SkipReason { MalformedName, MalformedRow, MissingImage, UnknownLabel, Unreadable };

inline const char* to_string(SkipReason r) {
  switch (r) {
    case SkipReason::MalformedName: return "malformed name";
    case SkipReason::MalformedRow: return "malformed row";
    case SkipReason::MissingImage: return "image missing";
    case SkipReason::UnknownLabel: return "unknown label";
    case SkipReason::Unreadable: return "unreadable image";
  }
  return "?";
}

// An entry left out, with what was wrong ("39_1_2017...jpg: 3 fields, expected age_gender_race_date").
struct Skipped {
  std::string path;
  SkipReason reason;
  std::string detail;
  std::string str() const { return path + ": " + to_string(reason) + (detail.empty() ? "" : " (" + detail + ")"); }
};

class Dataset {
 public:
  std::string name;                  // "utkface", "adience folds 0,1", ... (for reports)
  std::vector<std::string> classes;  // label i is classes[i]
  std::vector<Sample> samples;
  std::vector<Skipped> skipped;

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
  bool empty() const { return samples.empty(); }
  const Sample& operator[](int64_t i) const {
    GRAFT_CHECK(i >= 0 && i < size(), name, ": sample ", i, " out of range (", size(), " samples)");
    return samples[static_cast<size_t>(i)];
  }
  int num_classes() const { return static_cast<int>(classes.size()); }

  // Samples per class, indexed by label.
  std::vector<int64_t> class_counts() const {
    check();
    std::vector<int64_t> n(classes.size(), 0);
    for (const auto& s : samples) n[static_cast<size_t>(s.label)] += 1;
    return n;
  }
  int64_t skipped_count(SkipReason r) const {
    return std::count_if(skipped.begin(), skipped.end(), [r](const Skipped& s) { return s.reason == r; });
  }

  // The samples at `indices`, in that order (the account of skipped entries is kept).
  Dataset select(const std::vector<int64_t>& indices) const {
    Dataset d;
    d.name = name;
    d.classes = classes;
    d.skipped = skipped;
    d.samples.reserve(indices.size());
    for (int64_t i : indices) d.samples.push_back((*this)[i]);
    return d;
  }

  // Appends another dataset with the same classes (e.g. several Adience folds).
  void append(const Dataset& other) {
    GRAFT_CHECK(other.classes == classes, name, ": cannot append ", other.name, ": its classes differ");
    samples.insert(samples.end(), other.samples.begin(), other.samples.end());
    skipped.insert(skipped.end(), other.skipped.begin(), other.skipped.end());
  }

  // "utkface: 19358 samples (male 10160, female 9198); skipped 3 (malformed name 3)".
  std::string summary() const {
    std::string s = name + ": " + std::to_string(size()) + " samples (";
    auto counts = class_counts();
    for (size_t c = 0; c < classes.size(); ++c)
      s += (c ? ", " : "") + classes[c] + " " + std::to_string(counts[c]);
    s += ")";
    if (!skipped.empty()) {
      std::map<std::string, int64_t> by;
      for (const auto& k : skipped) by[to_string(k.reason)] += 1;
      s += "; skipped " + std::to_string(skipped.size()) + " (";
      bool first = true;
      for (const auto& [reason, n] : by) {
        s += (first ? "" : ", ") + reason + " " + std::to_string(n);
        first = false;
      }
      s += ")";
    }
    return s;
  }

  // Checks that every label names a class (builders call it; user-made datasets may too).
  void check() const {
    for (const auto& s : samples)
      GRAFT_CHECK(s.label >= 0 && s.label < num_classes(), name, ": ", s.path, " has label ", s.label, ", but there are ",
                  num_classes(), " classes");
  }
};

// Parses a whole string as a non-negative decimal integer (no sign, no spaces), or returns false.
inline bool parse_uint(const std::string& s, int64_t& value, int64_t max = INT32_MAX) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  if (v > max) return false;
  value = v;
  return true;
}

}  // namespace data
}  // namespace graft
