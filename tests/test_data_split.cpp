// Splits and subsets: disjoint, complete, stratified, reproducible from the seed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "graft/data.hpp"
#include "support/skip.hpp"

using namespace graft;
using namespace graft::data;

namespace {
// 1000 of class 0, 600 of class 1, 7 of class 2, interleaved.
Dataset toy() {
  Dataset d;
  d.name = "toy";
  d.classes = {"a", "b", "c"};
  int n[3] = {1000, 600, 7};
  for (int i = 0; n[0] + n[1] + n[2] > 0; ++i) {
    int c = i % 3;
    if (n[c] == 0) continue;
    --n[c];
    Sample s;
    s.path = "img" + std::to_string(i);
    s.label = c;
    d.samples.push_back(s);
  }
  return d;
}
std::vector<int64_t> per_class(const Dataset& d, const std::vector<int64_t>& idx) {
  std::vector<int64_t> n(size_t(d.num_classes()), 0);
  for (int64_t i : idx) n[size_t(d[i].label)] += 1;
  return n;
}
}  // namespace

TEST_CASE("stratified_split: disjoint, complete, proportional per class, reproducible", "[data]") {
  Dataset d = toy();
  Split s = stratified_split(d, 0.1, 0.2, 42);
  CHECK(per_class(d, s.test) == std::vector<int64_t>{200, 120, 1});  // 7 * 0.2 = 1.4 -> 1
  CHECK(per_class(d, s.val) == std::vector<int64_t>{100, 60, 1});    // 0.7 -> 1
  CHECK(per_class(d, s.train) == std::vector<int64_t>{700, 420, 5});
  std::vector<int64_t> all;
  for (auto* v : {&s.train, &s.val, &s.test}) {
    CHECK(std::is_sorted(v->begin(), v->end()));
    all.insert(all.end(), v->begin(), v->end());
  }
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == size_t(d.size()));
  for (size_t i = 0; i < all.size(); ++i) REQUIRE(all[i] == int64_t(i));

  Split again = stratified_split(d, 0.1, 0.2, 42);
  CHECK(again.train == s.train);
  CHECK(again.val == s.val);
  CHECK(again.test == s.test);
  Split other = stratified_split(d, 0.1, 0.2, 43);
  CHECK(other.test != s.test);
  CHECK(per_class(d, other.test) == per_class(d, s.test));

  Split none = stratified_split(d, 0, 0, 1);
  CHECK(none.train.size() == size_t(d.size()));
  CHECK(none.val.empty());
  CHECK_THROWS_WITH(stratified_split(d, 0.6, 0.5, 1), Catch::Contains("sum to at most 1"));
  CHECK_THROWS_WITH(stratified_split(d, -0.1, 0.5, 1), Catch::Contains(">= 0"));
}

TEST_CASE("stratified_subset: a fraction per class, nested as the fraction grows", "[data]") {
  Dataset d = toy();
  Split s = stratified_split(d, 0.1, 0.1, 7);
  auto fifth = stratified_subset(d, s.train, 0.2, 3);
  auto half = stratified_subset(d, s.train, 0.5, 3);
  auto train_counts = per_class(d, s.train);
  auto fifth_counts = per_class(d, fifth);
  for (size_t c = 0; c < 3; ++c) CHECK(fifth_counts[c] == std::llround(train_counts[c] * 0.2));
  std::set<int64_t> train(s.train.begin(), s.train.end()), h(half.begin(), half.end());
  for (int64_t i : fifth) {
    CHECK(train.count(i) == 1);  // only training samples
    CHECK(h.count(i) == 1);      // the fifth is inside the half
  }
  CHECK(stratified_subset(d, s.train, 0.2, 3) == fifth);
  CHECK(stratified_subset(d, s.train, 0.2, 4) != fifth);
  CHECK(stratified_subset(d, s.train, 1.0, 3) == s.train);
  CHECK(stratified_subset(d, 0.5, 3).size() == size_t(500 + 300 + 4));  // 3.5 rounds to 4
  CHECK_THROWS_WITH(stratified_subset(d, s.train, 0.0, 3), Catch::Contains("(0, 1]"));
}

TEST_CASE("stratified_split: the real UTKFace keeps its gender balance", "[data]") {
  auto dir = data_dir(GRAFT_SOURCE_DIR, "utkface");
  if (!std::filesystem::is_directory(dir)) GRAFT_SKIP("no utkface data at " + dir.string());
  Dataset d = utkface(dir);
  Split s = stratified_split(d, 0.1, 0.1, 2024);
  CHECK(per_class(d, s.val) == std::vector<int64_t>{1016, 920});
  CHECK(per_class(d, s.test) == std::vector<int64_t>{1016, 920});
  CHECK(s.train.size() + s.val.size() + s.test.size() == size_t(d.size()));
  auto fifth = stratified_subset(d, s.train, 0.2, 1);
  CHECK(per_class(d, fifth) == std::vector<int64_t>{std::llround(8128 * 0.2), std::llround(7358 * 0.2)});
}

TEST_CASE("name_split: a file's part depends on its name and the seed only, not on labels or order", "[data]") {
  Dataset d = toy();
  Split s = name_split(d, 0.1, 0.2, 42);
  // disjoint and complete
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.val.begin(), s.val.end());
  all.insert(s.test.begin(), s.test.end());
  CHECK(all.size() == size_t(d.size()));
  CHECK(s.train.size() + s.val.size() + s.test.size() == size_t(d.size()));
  // proportions within 4 standard deviations of the binomial
  const double n = double(d.size());
  CHECK(std::abs(double(s.test.size()) - 0.2 * n) < 4 * std::sqrt(n * 0.2 * 0.8));
  CHECK(std::abs(double(s.val.size()) - 0.1 * n) < 4 * std::sqrt(n * 0.1 * 0.9));
  // another task's labels, the files in reverse order and under another folder: same parts by name
  Dataset other = d;
  std::reverse(other.samples.begin(), other.samples.end());
  for (auto& smp : other.samples) {
    smp.label = int32_t(smp.path.size() % 3);
    smp.path = "/elsewhere/faces/" + smp.path;
  }
  Split o = name_split(other, 0.1, 0.2, 42);
  auto names = [](const Dataset& ds, const std::vector<int64_t>& idx) {
    std::set<std::string> out;
    for (int64_t i : idx) {
      const std::string& p = ds[i].path;
      out.insert(p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1));
    }
    return out;
  };
  CHECK(names(d, s.test) == names(other, o.test));
  CHECK(names(d, s.val) == names(other, o.val));
  CHECK(names(d, s.train) == names(other, o.train));
  // the seed changes it; the same seed repeats it
  CHECK(name_split(d, 0.1, 0.2, 43).test != s.test);
  CHECK(name_split(d, 0.1, 0.2, 42).test == s.test);
  CHECK(name_split(d, 0, 0, 1).train.size() == size_t(d.size()));
  CHECK_THROWS_WITH(name_split(d, 0.6, 0.5, 1), Catch::Contains("sum to at most 1"));
}

TEST_CASE("name_split: the real UTKFace keeps the fractions and the gender balance", "[data]") {
  auto dir = data_dir(GRAFT_SOURCE_DIR, "utkface");
  if (!std::filesystem::is_directory(dir)) GRAFT_SKIP("no utkface data at " + dir.string());
  Dataset d = utkface(dir);
  Split s = name_split(d, 0.1, 0.1, 1);
  const double n = double(d.size());
  CHECK(std::abs(double(s.test.size()) / n - 0.1) < 0.01);
  CHECK(std::abs(double(s.val.size()) / n - 0.1) < 0.01);
  // gender balance of the test part: not balanced by construction, so within 4 standard
  // deviations of the binomial (about 4.5 points on UTKFace's ~1900 test faces)
  auto whole = per_class(d, s.train);
  auto test = per_class(d, s.test);
  const double f_whole = double(whole[1]) / double(whole[0] + whole[1]);
  const double f_test = double(test[1]) / double(test[0] + test[1]);
  const double sigma = std::sqrt(f_whole * (1 - f_whole) / double(test[0] + test[1]));
  CHECK(std::abs(f_whole - f_test) < 4 * sigma);
}
