// Trainer: one epoch of training or one evaluation of a network on a batch source, on any
// device, with the frozen prefix read from a feature cache whenever it can be.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/layers/softmax_cross_entropy.hpp"
#include "graft/nn/feature_cache.hpp"
#include "graft/nn/network.hpp"
#include "graft/train/batch.hpp"
#include "graft/train/metrics.hpp"
#include "graft/train/optimizer.hpp"

namespace graft {
namespace train {

// Thrown when the loss stops being a finite number; training stops, checkpoints stay.
class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

struct EpochStats {
  double loss = 0;             // mean training loss over the epoch
  double running_accuracy = 0; // accuracy of the training forwards (dropout on)
  int64_t images = 0;
  double seconds = 0;
  int64_t cached_batches = 0;  // batches that ran from the feature cache
};

struct Evaluation {
  Confusion confusion;
  double loss = 0;
  std::vector<int64_t> indices;      // sample index of each prediction
  std::vector<int32_t> labels;       // true class
  std::vector<int32_t> predicted;    // argmax class
  std::vector<float> probabilities;  // n x classes, row-major
  double accuracy() const { return confusion.accuracy(); }
};

struct BatchInfo {
  int64_t batch = 0, batches = 0, images = 0;
  double loss = 0, seconds = 0;
};

template <class D>
class Trainer {
 public:
  struct Options {
    bool use_cache = true;                 // cache the frozen prefix's features when possible
    size_t cache_memory = size_t(2) << 30; // beyond this, features spill to a mapped file
    std::string cache_dir;                 // where spill files go (default TMPDIR)
  };

  Trainer(nn::Network<float, D>& net, Optimizer<float, D>& opt, Options o)
      : net_(net), opt_(&opt), o_(std::move(o)) {
    loss_.setup(net_.context());
  }
  Trainer(nn::Network<float, D>& net, Optimizer<float, D>& opt) : Trainer(net, opt, Options()) {}
  // A trainer that only evaluates (graft-eval): no optimizer; train_epoch refuses to run.
  Trainer(nn::Network<float, D>& net, Options o) : net_(net), o_(std::move(o)) { loss_.setup(net_.context()); }
  explicit Trainer(nn::Network<float, D>& net) : Trainer(net, Options()) {}

  // One pass over `src` with the network in training mode; the optimizer's rate is scaled
  // by lr_scale. `on_batch` (optional) sees each batch's loss.
  EpochStats train_epoch(BatchSource& src, uint64_t epoch, float lr_scale = 1.0f,
                         const std::function<void(const BatchInfo&)>& on_batch = {}) {
    GRAFT_CHECK(opt_, "train_epoch: this trainer was made for evaluation only (no optimizer)");
    const auto t0 = std::chrono::steady_clock::now();
    net_.set_training(true);
    nn::FeatureCache<float>* cache = cache_for(src);
    const size_t k = cache ? boundary_ : 0;
    EpochStats st;
    int64_t correct = 0, batches = 0;
    const int64_t total_batches = -1;
    start(src, epoch, cache);
    auto params = net_.params(true);
    while (const Batch* bp = src.next()) {
      const Batch& b = *bp;
      const Tensor<float, D>& logits = run_forward(b, cache, k, st.cached_batches);
      const Tensor<int32_t, D>& labels = on_device(b.labels, labels_dev_);
      const double l = loss_.forward(logits, labels);
      if (!std::isfinite(l))
        throw NonFiniteLoss(graft::detail::concat("training stopped: the loss is ", l, " at epoch ", epoch,
                                           ", batch ", batches + 1,
                                           "; the last good checkpoint is kept"));
      loss_.backward(labels, dlogits_);
      net_.backward(dlogits_);
      opt_->step(net_.context(), params, lr_scale);
      correct += count_correct(b.labels);
      const int64_t n = b.labels.size();
      st.loss += l * double(n);
      st.images += n;
      ++batches;
      if (on_batch) {
        BatchInfo bi{batches, total_batches, st.images, l, seconds_since(t0)};
        on_batch(bi);
      }
    }
    if (st.images) {
      st.loss /= double(st.images);
      st.running_accuracy = double(correct) / double(st.images);
    }
    st.seconds = seconds_since(t0);
    return st;
  }

  // Predictions for every sample of `src`, the network in evaluation mode. With `mirror`, each
  // sample's probabilities are the mean of its image's and its mirror image's (test-time
  // augmentation: training with random flips makes both views fair inputs), and the loss is
  // the cross-entropy of that mean. The feature cache holds unmirrored features, so it is not
  // used then.
  Evaluation evaluate(BatchSource& src, int classes, bool mirror = false) {
    net_.set_training(false);
    nn::FeatureCache<float>* cache = mirror ? nullptr : cache_for(src);
    const size_t k = cache ? boundary_ : 0;
    Evaluation ev;
    ev.confusion = Confusion(classes);
    int64_t cached = 0;
    start(src, 0, cache);
    while (const Batch* bp = src.next()) {
      const Batch& b = *bp;
      const Tensor<float, D>& logits = run_forward(b, cache, k, cached);
      const Tensor<int32_t, D>& labels = on_device(b.labels, labels_dev_);
      const int64_t n = b.labels.size();
      double l = loss_.forward(logits, labels);
      const Tensor<float>* pp = &probabilities_on_host();
      GRAFT_CHECK(pp->shape()[1] == classes, "evaluate: the network has ", pp->shape()[1],
                  " outputs for ", classes, " classes");
      if (mirror) {
        l = average_with_mirror(b, labels, *pp, classes);
        pp = &probs_mean_;
      }
      ev.loss += l * double(n);
      const Tensor<float>& p = *pp;
      for (int64_t i = 0; i < n; ++i) {
        const int32_t pred = argmax(p.data() + i * classes, classes);
        ev.confusion.add(b.labels[i], pred);
        ev.indices.push_back(b.indices[size_t(i)]);
        ev.labels.push_back(b.labels[i]);
        ev.predicted.push_back(pred);
        ev.probabilities.insert(ev.probabilities.end(), p.data() + i * classes,
                                p.data() + (i + 1) * classes);
      }
    }
    if (ev.confusion.count()) ev.loss /= double(ev.confusion.count());
    return ev;
  }

  // Forgets cached features (call when what is frozen changes; done automatically when
  // the cache boundary moves).
  void clear_cache() { caches_.clear(); }
  // Caches at most up to node k (a cut; 0: no limit), below the current stage's own cut when
  // that is higher: fit's cache_once sets the lowest cut of all its stages, so that one cache
  // serves every stage. Everything below the current cut is frozen, so below k too.
  void set_cache_limit(size_t k) { cache_limit_ = k; }
  size_t cache_boundary() const { return boundary_; }
  nn::Network<float, D>& network() { return net_; }
  Optimizer<float, D>& optimizer() {
    GRAFT_CHECK(opt_, "trainer: made for evaluation only, it has no optimizer");
    return *opt_;
  }

 private:
  static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  static int32_t argmax(const float* p, int k) {
    int32_t best = 0;
    for (int j = 1; j < k; ++j)
      if (p[j] > p[best]) best = j;
    return best;
  }

  template <class X>
  static const Tensor<X, D>& on_device(const Tensor<X>& host, Tensor<X, D>& dev) {
    if constexpr (std::is_same<D, CPU>::value) {
      (void)dev;
      return host;
    } else {
      copy_from_host(host, dev);
      return dev;
    }
  }
  const Tensor<float>& probabilities_on_host() {
    if constexpr (std::is_same<D, CPU>::value) {
      return loss_.probabilities();
    } else {
      copy_to_host(loss_.probabilities(), probs_host_);
      return probs_host_;
    }
  }
  int64_t count_correct(const Tensor<int32_t>& labels) {
    const Tensor<float>& p = probabilities_on_host();
    const int k = int(p.shape()[1]);
    int64_t c = 0;
    for (int64_t i = 0; i < labels.size(); ++i) c += argmax(p.data() + i * k, k) == labels[i];
    return c;
  }

  // probs_mean_ = the mean of `probs` (the batch's) and of the batch's mirror images'
  // probabilities; returns the mean cross-entropy of that mean.
  double average_with_mirror(const Batch& b, const Tensor<int32_t, D>& labels, const Tensor<float>& probs,
                             int classes) {
    copy(probs, probs_mean_);  // the next forward overwrites the probabilities
    mirror_images(b.images, mirrored_);
    loss_.forward(net_.forward(on_device(mirrored_, images_dev_)), labels);
    const Tensor<float>& q = probabilities_on_host();
    const int64_t n = b.labels.size();
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      float* row = probs_mean_.data() + i * classes;
      for (int j = 0; j < classes; ++j) row[j] = 0.5f * (row[j] + q[i * classes + j]);
      sum -= std::log(std::max(double(row[b.labels[i]]), 1e-30));
    }
    return n ? sum / double(n) : 0.0;
  }

  // Begins an epoch of `src`; without its images when the cache holds every sample's features.
  static void start(BatchSource& src, uint64_t epoch, const nn::FeatureCache<float>* cache) {
    if (cache && cache->cached() == src.size() && src.start_labels_only(epoch)) return;
    src.start(epoch);
  }

  // The cache for this source at the current boundary, or null when caching cannot apply.
  nn::FeatureCache<float>* cache_for(BatchSource& src) {
    if (!o_.use_cache || !src.deterministic()) return nullptr;
    // The boundary is taken in training mode: dropout must not be inside the cached prefix.
    const bool was = net_.training();
    net_.set_training(true);
    size_t k = nn::cache_boundary(net_);
    if (k > 0 && cache_limit_ > 0 && cache_limit_ < k) k = cache_limit_;
    net_.set_training(was);
    if (k != boundary_) {
      caches_.clear();
      boundary_ = k;
    }
    if (k == 0) return nullptr;
    auto& c = caches_[&src];
    if (!c) {
      std::vector<int64_t> d = net_.shape_after(int(k) - 1).dims();
      d.erase(d.begin());
      c = std::make_unique<nn::FeatureCache<float>>(src.size(), Shape(d), o_.cache_memory, o_.cache_dir);
    }
    return c.get();
  }

  const Tensor<float, D>& run_forward(const Batch& b, nn::FeatureCache<float>* cache, size_t k,
                                      int64_t& cached_batches) {
    if (cache && cache->has_all(b.indices)) {
      cache->gather(b.indices, features_host_);
      ++cached_batches;
      return net_.forward(on_device(features_host_, features_dev_), k);
    }
    GRAFT_CHECK(b.images.size() > 0, "trainer: a batch without images whose features are not all cached");
    const Tensor<float, D>& out = net_.forward(on_device(b.images, images_dev_));
    if (cache) {
      if constexpr (std::is_same<D, CPU>::value) {
        cache->scatter(b.indices, net_.activation(k - 1));
      } else {
        copy_to_host(net_.activation(k - 1), features_host_);
        cache->scatter(b.indices, features_host_);
      }
    }
    return out;
  }

  nn::Network<float, D>& net_;
  Optimizer<float, D>* opt_ = nullptr;  // null: evaluation only
  Options o_;
  SoftmaxCrossEntropy<float, D> loss_;
  Tensor<float, D> images_dev_, features_dev_, dlogits_;
  Tensor<int32_t, D> labels_dev_;
  Tensor<float> features_host_, probs_host_, probs_mean_, mirrored_;
  std::map<const BatchSource*, std::unique_ptr<nn::FeatureCache<float>>> caches_;
  size_t boundary_ = 0;
  size_t cache_limit_ = 0;
};

}  // namespace train
}  // namespace graft
