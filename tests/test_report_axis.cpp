// [report]: the learning-curve SVG labels every epoch of a short run and thins the labels of a
// long one (every 5th of 30 epochs) so that they do not overlap; every point is still drawn.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "graft/train/report.hpp"

using namespace graft;

namespace {
std::vector<train::EpochRecord> curve(int epochs) {
  std::vector<train::EpochRecord> v;
  for (int e = 0; e <= epochs; ++e) {
    train::EpochRecord r;
    r.epoch = e;
    r.train_accuracy = 0.5 + 0.4 * e / epochs;
    r.val_accuracy = 0.5 + 0.3 * e / epochs;
    v.push_back(r);
  }
  return v;
}
size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}
std::string svg(int epochs) {
  return train::svg_lines("accuracy", curve(epochs),
                          {{"train", &train::EpochRecord::train_accuracy}, {"validation", &train::EpochRecord::val_accuracy}},
                          true);
}
}  // namespace

TEST_CASE("Learning-curve axis: all labels for 10 epochs, every 5th for 30", "[report]") {
  const std::string short_run = svg(10), long_run = svg(30);
  CHECK(count(short_run, ">Rand</text>") == 1);
  for (int e = 1; e <= 10; ++e) CHECK(count(short_run, "'middle'>" + std::to_string(e) + "</text>") == 1);
  CHECK(count(long_run, ">Rand</text>") == 1);
  for (int e = 1; e <= 30; ++e)
    CHECK(count(long_run, "'middle'>" + std::to_string(e) + "</text>") == (e % 5 == 0 ? 1u : 0u));
  CHECK(count(long_run, "<circle") == 2u * 31u);  // both series, every epoch
  CHECK(count(short_run, "<circle") == 2u * 11u);
}
