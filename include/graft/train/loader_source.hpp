// LoaderSource: graft/data's threaded Loader as a trainer's BatchSource (no copies: the
// batch tensors are views of the loader's buffers).
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "graft/data/loader.hpp"
#include "graft/train/batch.hpp"

namespace graft {
namespace train {

class LoaderSource : public BatchSource {
 public:
  explicit LoaderSource(data::Loader& loader) : loader_(loader) {}
  int64_t size() const override { return loader_.dataset().size(); }
  // No random crop or flip: a sample's input is the same every epoch.
  bool deterministic() const override {
    return !loader_.transform().random_crop && !loader_.transform().random_flip;
  }
  dist::Shard shard() const override { return loader_.options().shard; }
  // The samples' files and labels, in dataset order.
  uint64_t fingerprint() const override {
    uint64_t h = random::bits(0x6c6f6164u, uint64_t(loader_.dataset().size()));
    for (const auto& s : loader_.dataset().samples) {
      for (char c : s.path) h = random::bits(h, uint64_t(uint8_t(c)));
      h = random::bits(h, uint64_t(uint32_t(s.label)));
    }
    return h;
  }
  void start(uint64_t epoch) override {
    labels_only_ = false;
    loader_.start_epoch(int64_t(epoch));
  }
  // The loader's order and batches for the epoch, with the labels from the dataset; no
  // image is decoded.
  bool start_labels_only(uint64_t epoch) override {
    labels_only_ = true;
    order_ = loader_.epoch_order(int64_t(epoch));
    order_.resize(size_t(loader_.samples_per_epoch()));
    pos_ = 0;
    return true;
  }
  const Batch* next() override {
    if (labels_only_) return next_labels_only();
    const data::Batch* b = loader_.next();
    if (!b) return nullptr;
    batch_.images = Tensor<float>::view(const_cast<float*>(b->images.data()), b->images.shape());
    batch_.labels = Tensor<int32_t>::view(const_cast<int32_t*>(b->labels.data()), b->labels.shape());
    batch_.indices = b->indices;
    batch_.positions = b->positions;
    return &batch_;
  }

 private:
  const Batch* next_labels_only() {
    const int64_t total = int64_t(order_.size());
    if (pos_ >= total) return nullptr;
    const int64_t global = std::min<int64_t>(loader_.options().batch_size, total - pos_);
    const dist::Shard shard = loader_.options().shard;
    batch_.images = Tensor<float>();
    batch_.indices.clear();
    batch_.positions.clear();
    for (int64_t p = pos_; p < pos_ + global; ++p)
      if (shard.owns(order_[size_t(p)])) {
        batch_.indices.push_back(order_[size_t(p)]);
        if (!shard.whole()) batch_.positions.push_back(p);
      }
    const int64_t n = int64_t(batch_.indices.size());
    labels_.resize(Shape{n});
    const auto& samples = loader_.dataset().samples;
    for (int64_t i = 0; i < n; ++i) labels_[i] = samples[size_t(batch_.indices[size_t(i)])].label;
    batch_.labels = Tensor<int32_t>::view(labels_.data(), labels_.shape());
    pos_ += global;
    return &batch_;
  }

  data::Loader& loader_;
  Batch batch_;
  bool labels_only_ = false;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
  Tensor<int32_t> labels_;
};

}  // namespace train
}  // namespace graft
