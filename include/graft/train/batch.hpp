// What a trainer reads: batches of images and labels from a source that knows nothing of
// models (graft/data's loaders implement it; so can a user's own data).
#pragma once

#include <cstdint>
#include <vector>

#include <algorithm>

#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"
#include "graft/dist/shard.hpp"

namespace graft {
namespace train {

struct Batch {
  Tensor<float> images;          // (n, c, h, w), preprocessed
  Tensor<int32_t> labels;        // (n)
  std::vector<int64_t> indices;  // each sample's index in its dataset (for caches and groups)
  // A sharded source's batches also give each sample's place in the epoch's global order,
  // so that a sharded evaluation gathers its predictions back into one process's order.
  std::vector<int64_t> positions;
};

// Writes the left-right mirror image of every image of an (n, c, h, w) batch into `out`
// (resized to match): out[n][c][y][x] = in[n][c][y][w-1-x]. Test-time augmentation averages a
// face's predictions over both views.
inline void mirror_images(const Tensor<float>& in, Tensor<float>& out) {
  GRAFT_CHECK(in.shape().rank() == 4, "mirror_images: expected (n, c, h, w) images, got ", in.shape().str());
  out.resize(in.shape());
  const int64_t w = in.shape()[3], rows = w ? in.size() / w : 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = in.data() + r * w;
    std::reverse_copy(src, src + w, out.data() + r * w);
  }
}

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Samples per epoch.
  virtual int64_t size() const = 0;
  // Begins an epoch: the order (and any augmentation) is a function of (seed, epoch).
  virtual void start(uint64_t epoch) = 0;
  // The next batch, or null at the end of the epoch. The batch belongs to the source and
  // stays valid until the next call to next() or start().
  virtual const Batch* next() = 0;
  // True when a sample's input is the same every epoch (no random augmentation), so that
  // features computed from it may be cached.
  virtual bool deterministic() const = 0;
  // Begins an epoch whose batches carry labels and indices but no images (the same order and
  // batches as start(epoch)), for a trainer that reads every input from its feature cache:
  // decoding images nobody looks at cost 4-5x the epoch itself. False: not supported (the
  // caller then uses start()).
  virtual bool start_labels_only(uint64_t /*epoch*/) { return false; }
  // The samples this rank's batches hold (graft/dist/shard.hpp): size() and the epoch's
  // batches stay the global ones, each batch holding this rank's share of it (maybe none).
  virtual dist::Shard shard() const { return {}; }
  // A number that differs when the samples or their labels differ (0: unknown), compared
  // across ranks at start-up.
  virtual uint64_t fingerprint() const { return 0; }
};

// A source over tensors already in memory (tests, features, small generated sets).
class TensorSource : public BatchSource {
 public:
  // images (N, ...) and labels (N); shuffled per epoch when shuffle_seed != 0; with a shard,
  // each batch holds the shard's samples of the global batch.
  TensorSource(const Tensor<float>& images, const Tensor<int32_t>& labels, int64_t batch,
               uint64_t shuffle_seed = 0, dist::Shard shard = {})
      : images_(images), labels_(labels), batch_(batch), seed_(shuffle_seed), shard_(shard) {
    GRAFT_CHECK(images.shape().rank() >= 1 && images.shape()[0] == labels.size(),
                "tensor source: ", images.shape().str(), " images for ", labels.size(), " labels");
    GRAFT_CHECK(batch > 0, "tensor source: batch size must be positive");
    order_.resize(size_t(labels.size()));
  }
  int64_t size() const override { return labels_.size(); }
  bool deterministic() const override { return true; }
  dist::Shard shard() const override { return shard_; }
  uint64_t fingerprint() const override {
    uint64_t h = random::bits(uint64_t(labels_.size()), uint64_t(images_.size()));
    for (int64_t i = 0; i < labels_.size(); ++i) h = random::bits(h, uint64_t(labels_[i]));
    return h;
  }
  void start(uint64_t epoch) override {
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = int64_t(i);
    if (seed_) {
      Rng rng(random::bits(seed_, epoch));
      for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
    }
    pos_ = 0;
  }
  const Batch* next() override {
    if (pos_ >= int64_t(order_.size())) return nullptr;
    Batch& b = out_;
    const int64_t global = std::min<int64_t>(batch_, int64_t(order_.size()) - pos_);
    b.positions.clear();
    for (int64_t i = 0; i < global; ++i)
      if (shard_.owns(order_[size_t(pos_ + i)])) b.positions.push_back(pos_ + i);
    const int64_t n = int64_t(b.positions.size());
    const int64_t row = images_.size() / std::max<int64_t>(1, images_.shape()[0]);
    std::vector<int64_t> d = images_.shape().dims();
    d[0] = n;
    b.images.resize(Shape(d));
    b.labels.resize(Shape{n});
    b.indices.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = order_[size_t(b.positions[size_t(i)])];
      std::copy(images_.data() + s * row, images_.data() + (s + 1) * row, b.images.data() + i * row);
      b.labels[i] = labels_[s];
      b.indices[size_t(i)] = s;
    }
    if (shard_.whole()) b.positions.clear();
    pos_ += global;
    return &b;
  }

 private:
  const Tensor<float>& images_;
  const Tensor<int32_t>& labels_;
  int64_t batch_;
  uint64_t seed_;
  dist::Shard shard_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
  Batch out_;
};

}  // namespace train
}  // namespace graft
