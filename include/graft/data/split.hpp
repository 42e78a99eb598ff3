// Deterministic, stratified splits and subsets of a dataset.
//
// Stratified: each class is divided in the same proportions, so a 10 % validation set of a
// 52/48 male/female dataset is 52/48 too. Within a class the samples are shuffled by a stream
// seeded with (seed, class), so the split is a pure function of (dataset order, fractions,
// seed): the same on every machine and run. The counts per class are rounded to nearest.
// Returned index lists are sorted (a loader shuffles them anyway), and index the dataset.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/data/dataset.hpp"

namespace graft {
namespace data {

struct Split {
  std::vector<int64_t> train, val, test;
};

namespace detail {
// The indices of each class among `indices`, each list in a seeded random order.
inline std::vector<std::vector<int64_t>> shuffled_by_class(const Dataset& ds, const std::vector<int64_t>& indices,
                                                           uint64_t seed) {
  std::vector<std::vector<int64_t>> by(static_cast<size_t>(ds.num_classes()));
  for (int64_t i : indices) {
    int32_t l = ds[i].label;
    GRAFT_CHECK(l >= 0 && l < ds.num_classes(), ds.name, ": sample ", i, " has label ", l, " outside its ",
                ds.num_classes(), " classes");
    by[size_t(l)].push_back(i);
  }
  for (size_t c = 0; c < by.size(); ++c) {
    Rng rng(random::bits(seed ^ 0x73706c74u /* "splt" */, c));
    auto& v = by[c];
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(rng.below(i))]);
  }
  return by;
}
inline std::vector<int64_t> all_indices(const Dataset& ds) {
  std::vector<int64_t> v(size_t(ds.size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int64_t(i);
  return v;
}
}  // namespace detail

// Splits the whole dataset: a fraction for validation, one for test, the rest for training.
inline Split stratified_split(const Dataset& ds, double val_fraction, double test_fraction, uint64_t seed) {
  GRAFT_CHECK(val_fraction >= 0 && test_fraction >= 0 && val_fraction + test_fraction <= 1,
              "split: fractions must be >= 0 and sum to at most 1, got validation ", val_fraction, " and test ",
              test_fraction);
  Split s;
  for (auto& v : detail::shuffled_by_class(ds, detail::all_indices(ds), seed)) {
    const int64_t n = int64_t(v.size());
    int64_t n_test = int64_t(std::llround(double(n) * test_fraction));
    int64_t n_val = std::min(int64_t(std::llround(double(n) * val_fraction)), n - n_test);
    s.test.insert(s.test.end(), v.begin(), v.begin() + n_test);
    s.val.insert(s.val.end(), v.begin() + n_test, v.begin() + n_test + n_val);
    s.train.insert(s.train.end(), v.begin() + n_test + n_val, v.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

// Splits by file name: each sample's part is decided by a hash of (seed, the base name of its
// file) alone, so a file lands in the same part whatever the task, its labels, the other files
// or their order. Use it when models for several tasks are trained on the same images (a
// source model pretrained on race and age, then fine-tuned for gender): with a split stratified
// by each task's own labels, the source's training part would hold most of the gender test
// faces. The parts' sizes are the fractions only on average (binomial), and classes are not
// balanced exactly; on thousands of images both come within about a percent.
inline Split name_split(const Dataset& ds, double val_fraction, double test_fraction, uint64_t seed) {
  GRAFT_CHECK(val_fraction >= 0 && test_fraction >= 0 && val_fraction + test_fraction <= 1,
              "split: fractions must be >= 0 and sum to at most 1, got validation ", val_fraction, " and test ",
              test_fraction);
  Split s;
  for (int64_t i = 0; i < ds.size(); ++i) {
    const std::string& path = ds[i].path;
    const size_t slash = path.find_last_of("/\\");
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    uint64_t h = 1469598103934665603ull;  // FNV-1a of the name, then mixed with the seed
    for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
    const double u = double(random::bits(seed ^ 0x6e616d65u /* "name" */, h) >> 11) * (1.0 / 9007199254740992.0);
    if (u < test_fraction) s.test.push_back(i);
    else if (u < test_fraction + val_fraction) s.val.push_back(i);
    else s.train.push_back(i);
  }
  return s;
}

// A stratified fraction of `indices` (e.g. 0.2: "train on 1/5 of the training data").
inline std::vector<int64_t> stratified_subset(const Dataset& ds, const std::vector<int64_t>& indices,
                                              double fraction, uint64_t seed) {
  GRAFT_CHECK(fraction > 0 && fraction <= 1, "subset: fraction must be in (0, 1], got ", fraction);
  std::vector<int64_t> out;
  for (auto& v : detail::shuffled_by_class(ds, indices, seed ^ 0x73756273u /* "subs" */)) {
    int64_t k = int64_t(std::llround(double(v.size()) * fraction));
    out.insert(out.end(), v.begin(), v.begin() + k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<int64_t> stratified_subset(const Dataset& ds, double fraction, uint64_t seed) {
  return stratified_subset(ds, detail::all_indices(ds), fraction, seed);
}

}  // namespace data
}  // namespace graft
