// LoaderSource: graft/data's threaded Loader as a trainer's BatchSource (no copies: the
// batch tensors are views of the loader's buffers).
#pragma once

#include <utility>

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
  void start(uint64_t epoch) override { loader_.start_epoch(int64_t(epoch)); }
  const Batch* next() override {
    const data::Batch* b = loader_.next();
    if (!b) return nullptr;
    batch_.images = Tensor<float>::view(const_cast<float*>(b->images.data()), b->images.shape());
    batch_.labels = Tensor<int32_t>::view(const_cast<int32_t*>(b->labels.data()), b->labels.shape());
    batch_.indices = b->indices;
    return &batch_;
  }

 private:
  data::Loader& loader_;
  Batch batch_;
};

}  // namespace train
}  // namespace graft
