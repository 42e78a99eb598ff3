// Shape: the dimensions of a tensor, rank 0 (a scalar) to 8.
//
// A Shape checks itself when built (no negative dimension, no element count that
// overflows), so that sizes read from untrusted files are validated in one place.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {

class Shape {
 public:
  static constexpr int kMaxRank = 8;
  // Largest element count a shape may describe (2^40, a 4 TiB float tensor): far above any
  // real tensor, far below int64 overflow, so products of a few shapes never overflow.
  static constexpr int64_t kMaxNumel = int64_t(1) << 40;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dim(i); }
  int64_t dim(int i) const {
    GRAFT_CHECK(i >= 0 && i < rank_, "shape ", str(), ": no dimension ", i);
    return d_[i];
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= d_[i];
    return n;
  }
  std::vector<int64_t> dims() const { return std::vector<int64_t>(d_, d_ + rank_); }

  // NCHW accessors; they insist on rank 4 so that a 2-d tensor is never read as an image.
  int64_t n() const { return nchw(0); }
  int64_t c() const { return nchw(1); }
  int64_t h() const { return nchw(2); }
  int64_t w() const { return nchw(3); }

  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

  // "(8, 3, 224, 224)"; a scalar is "()", as NumPy writes it.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(d_[i]);
    }
    if (rank_ == 1) s += ",";
    return s + ")";
  }

 private:
  template <class It>
  void assign(It first, It last) {
    int r = 0;
    int64_t n = 1;
    for (It it = first; it != last; ++it, ++r) {
      GRAFT_CHECK(r < kMaxRank, "shape has more than ", kMaxRank, " dimensions");
      GRAFT_CHECK(*it >= 0, "shape has a negative dimension (", *it, ")");
      d_[r] = *it;
      if (*it != 0) {
        GRAFT_CHECK(n <= kMaxNumel / *it, "shape is too large (over 2^40 elements)");
        n *= *it;
      }
    }
    rank_ = r;
  }
  int64_t nchw(int i) const {
    GRAFT_CHECK(rank_ == 4, "expected an NCHW (4-d) shape, got ", str());
    return d_[i];
  }

  int rank_ = 0;
  int64_t d_[kMaxRank] = {};
};

// Whether a and b are the same once leading 1s are dropped from both: Caffe's legacy blobs
// carry them ((1, 1, 4096, 25088) for a (4096, 25088) weight).
inline bool same_but_leading_ones(const Shape& a, const Shape& b) {
  int i = 0, j = 0;
  while (i < a.rank() && a[i] == 1) ++i;
  while (j < b.rank() && b[j] == 1) ++j;
  if (a.rank() - i != b.rank() - j) return false;
  for (; i < a.rank(); ++i, ++j)
    if (a[i] != b[j]) return false;
  return true;
}

}  // namespace graft
