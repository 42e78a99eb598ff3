// Classification metrics: accuracy, the confusion matrix (rows = true class, columns =
// predicted), and accuracy per group (e.g. race or age band) when samples carry one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace train {

class Confusion {
 public:
  explicit Confusion(int classes = 0) : k_(classes), m_(size_t(classes) * classes, 0) {}
  void add(int truth, int predicted) {
    GRAFT_CHECK(truth >= 0 && truth < k_ && predicted >= 0 && predicted < k_,
                "confusion: class out of range (", truth, ", ", predicted, ") for ", k_, " classes");
    ++m_[size_t(truth) * k_ + predicted];
  }
  int classes() const { return k_; }
  int64_t at(int truth, int predicted) const { return m_[size_t(truth) * k_ + predicted]; }
  int64_t count() const {
    int64_t n = 0;
    for (auto v : m_) n += v;
    return n;
  }
  int64_t correct() const {
    int64_t n = 0;
    for (int i = 0; i < k_; ++i) n += at(i, i);
    return n;
  }
  double accuracy() const { return count() ? double(correct()) / double(count()) : 0.0; }
  // Fraction of class `truth` predicted as `predicted` (a row-normalised cell).
  double rate(int truth, int predicted) const {
    int64_t row = 0;
    for (int j = 0; j < k_; ++j) row += at(truth, j);
    return row ? double(at(truth, predicted)) / double(row) : 0.0;
  }

 private:
  int k_;
  std::vector<int64_t> m_;
};

// Accuracy per value of a group variable (group name -> value -> counts).
class GroupAccuracy {
 public:
  void add(const std::string& group, const std::string& value, bool correct) {
    auto& c = counts_[group][value];
    ++c.first;
    c.second += correct;
  }
  // group -> value -> (count, correct)
  const std::map<std::string, std::map<std::string, std::pair<int64_t, int64_t>>>& counts() const {
    return counts_;
  }

 private:
  std::map<std::string, std::map<std::string, std::pair<int64_t, int64_t>>> counts_;
};

}  // namespace train
}  // namespace graft
