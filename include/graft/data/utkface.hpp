// UTKFace: aligned and cropped 200x200 faces, labelled in the file name
//   {age}_{gender}_{race}_{datetime}.jpg.chip.jpg
// gender 0 male, 1 female (the label); race 0 white, 1 black, 2 asian, 3 indian, 4 other
// and the age in years are kept in the Sample for per-group evaluation.
//
// Malformed names are reported in Dataset::skipped and left out. The rule, decided on the
// real folder: the first three fields (age, gender, race) must be whole numbers in range and
// a fourth field must follow; the fourth is not checked further. So
//   39_1_20170116174525125.jpg.chip.jpg        (three fields: race or date missing) is skipped,
//   24_0_1_20170116220224657 .jpg.chip.jpg     (a space before .jpg) and
//   55_0_0_20170116232725357jpg.chip.jpg       (a dot missing) are kept:
// their labels are unambiguous, and only the date, which graft never uses, is untidy.
// Files without an image extension (.jpg, .jpeg, .png) and hidden files are not samples and
// are ignored.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/files.hpp"

namespace graft {
namespace data {

struct UTKFaceName {
  int32_t age = -1, gender = -1, race = -1;
};

// Parses a UTKFace file name; on failure returns false and says why in `why`.
inline bool parse_utkface_name(const std::string& filename, UTKFaceName& out, std::string& why) {
  std::string field[3];
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t us = filename.find('_', start);
    if (us == std::string::npos) {
      why = std::to_string(i + 1) + " fields, expected age_gender_race_datetime";
      return false;
    }
    field[i] = filename.substr(start, us - start);
    start = us + 1;
  }
  if (start >= filename.size() || filename[start] == '.') {
    why = "nothing after the race field, expected age_gender_race_datetime";
    return false;
  }
  int64_t age, gender, race;
  if (!parse_uint(field[0], age, 150)) {
    why = "age '" + field[0] + "' is not a number of years";
    return false;
  }
  if (!parse_uint(field[1], gender, 1)) {
    why = "gender '" + field[1] + "' is not 0 or 1";
    return false;
  }
  if (!parse_uint(field[2], race, 4)) {
    why = "race '" + field[2] + "' is not 0 to 4";
    return false;
  }
  out = {int32_t(age), int32_t(gender), int32_t(race)};
  return true;
}

inline Dataset utkface(const std::filesystem::path& dir) {
  Dataset d;
  d.name = "utkface";
  d.classes = {"male", "female"};
  for (const std::string& n : list_image_files(dir)) {
    std::string path = (dir / n).string();
    UTKFaceName u;
    std::string why;
    if (!parse_utkface_name(n, u, why)) {
      d.skipped.push_back({path, SkipReason::MalformedName, why});
      continue;
    }
    Sample s;
    s.path = std::move(path);
    s.label = u.gender;
    s.age_min = s.age_max = u.age;
    s.race = u.race;
    d.samples.push_back(std::move(s));
  }
  return d;
}

inline const char* utkface_race_name(int32_t race) {
  static const char* names[] = {"white", "black", "asian", "indian", "other"};
  return race >= 0 && race < 5 ? names[race] : "unknown";
}

}  // namespace data
}  // namespace graft
