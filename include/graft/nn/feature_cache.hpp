// FeatureCache: the output of a network's frozen, deterministic prefix, per sample.
//
// While only the head learns (fc8, say), every layer below it computes the same thing for
// a sample every epoch. The cache keeps that output (one row per sample, host memory, or a
// file mapped into memory when larger than the memory limit) so that later epochs run only
// the layers above it. The original trainer recomputed the whole VGG16 forward every epoch.
// In a data-parallel run each rank caches only the samples it owns (its shard: rows i / n).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/dist/shard.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

// The index k of the first node that must run live, given the output of node k - 1: every
// node below k is frozen and deterministic in the network's current mode (dropout and
// BatchNorm while training are not), and that output is a cut — no node from k on reads
// anything older (in a residual network, the input of a stage, or the pooled features). The
// cache holds that one tensor per sample. 0 means nothing can be cached.
template <class T, class D>
size_t cache_boundary(Network<T, D>& net) {
  size_t k = 0;
  while (k < net.size() && !net.layer(k).learns() && net.layer(k).deterministic()) ++k;
  if (k == net.size()) return 0;  // a fully frozen network has nothing to train
  while (k > 0 && !net.is_cut(k)) --k;
  return k;
}

template <class T = float>
class FeatureCache {
 public:
  // `feature` is one sample's feature shape (without batch). Rows beyond `memory_limit`
  // bytes in all go to an unlinked temporary file in `spill_dir`, mapped into memory.
  // `samples` counts the whole dataset; a shard keeps rows for its own samples only.
  FeatureCache(int64_t samples, const Shape& feature, size_t memory_limit = size_t(2) << 30,
               const std::string& spill_dir = "", dist::Shard shard = {})
      : samples_(samples), shard_(shard), rows_(shard.count(samples)), feature_(feature), row_(feature.numel()),
        present_(size_t(rows_), 0) {
    GRAFT_CHECK(samples > 0 && row_ > 0, "feature cache: nothing to cache (", samples,
                " samples of shape ", feature.str(), ")");
    bytes_ = size_t(std::max<int64_t>(rows_, 1)) * size_t(row_) * sizeof(T);
    if (bytes_ <= memory_limit) {
      data_ = static_cast<T*>(std::malloc(bytes_));
      GRAFT_CHECK(data_, "feature cache: out of memory for ", bytes_, " bytes");
    } else {
      std::string dir = spill_dir.empty() ? (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") : spill_dir;
      std::string path = dir + "/graft-features-XXXXXX";
      int fd = mkstemp(&path[0]);
      GRAFT_CHECK(fd >= 0, "feature cache: cannot create a spill file in ", dir);
      unlink(path.c_str());  // gone when closed
      if (ftruncate(fd, off_t(bytes_)) != 0) {
        close(fd);
        GRAFT_FAIL("feature cache: cannot size the spill file in ", dir, " to ", bytes_, " bytes");
      }
      void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      GRAFT_CHECK(p != MAP_FAILED, "feature cache: cannot map ", bytes_, " bytes of ", dir);
      data_ = static_cast<T*>(p);
      mapped_ = true;
    }
  }
  FeatureCache(const FeatureCache&) = delete;
  FeatureCache& operator=(const FeatureCache&) = delete;
  ~FeatureCache() {
    if (mapped_) munmap(data_, bytes_);
    else std::free(data_);
  }

  bool has(int64_t i) const { return i >= 0 && i < samples_ && shard_.owns(i) && present_[size_t(shard_.local(i))]; }
  bool has_all(const std::vector<int64_t>& idx) const {
    for (int64_t i : idx)
      if (!has(i)) return false;
    return true;
  }
  void put(int64_t i, const T* row) {
    GRAFT_CHECK(i >= 0 && i < samples_, "feature cache: sample ", i, " outside [0, ", samples_, ")");
    GRAFT_CHECK(shard_.owns(i), "feature cache: sample ", i, " belongs to another rank than ", shard_.rank, " of ",
                shard_.ranks);
    const int64_t r = shard_.local(i);
    std::memcpy(data_ + r * row_, row, size_t(row_) * sizeof(T));
    if (!present_[size_t(r)]) ++count_;
    present_[size_t(r)] = 1;
  }
  const T* get(int64_t i) const {
    GRAFT_CHECK(has(i), "feature cache: sample ", i, " is not cached");
    return data_ + shard_.local(i) * row_;
  }
  // Gathers the rows of `idx` into a (n, feature...) host tensor.
  void gather(const std::vector<int64_t>& idx, Tensor<T>& out) const {
    std::vector<int64_t> d{int64_t(idx.size())};
    for (int64_t v : feature_.dims()) d.push_back(v);
    out.resize(Shape(d));
    for (size_t k = 0; k < idx.size(); ++k)
      std::memcpy(out.data() + int64_t(k) * row_, get(idx[k]), size_t(row_) * sizeof(T));
  }
  // Stores rows of a (n, feature...) host tensor under the sample indices `idx`.
  void scatter(const std::vector<int64_t>& idx, const Tensor<T>& rows) {
    GRAFT_CHECK(rows.size() == int64_t(idx.size()) * row_, "feature cache: ", rows.shape().str(),
                " rows for ", idx.size(), " samples of ", feature_.str());
    for (size_t k = 0; k < idx.size(); ++k) put(idx[k], rows.data() + int64_t(k) * row_);
  }

  int64_t samples() const { return samples_; }
  int64_t cached() const { return count_; }
  // Whether every sample this cache is for (its shard's) is in it.
  bool complete() const { return count_ == rows_; }
  const dist::Shard& shard() const { return shard_; }
  const Shape& feature_shape() const { return feature_; }
  size_t bytes() const { return bytes_; }
  bool spilled() const { return mapped_; }

 private:
  int64_t samples_;
  dist::Shard shard_;
  int64_t rows_;
  Shape feature_;
  int64_t row_;
  std::vector<uint8_t> present_;
  int64_t count_ = 0;
  size_t bytes_ = 0;
  T* data_ = nullptr;
  bool mapped_ = false;
};

}  // namespace nn
}  // namespace graft
