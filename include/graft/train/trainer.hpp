// Trainer: one epoch of training or one evaluation of a network on a batch source, on any
// device, with the frozen prefix read from a feature cache whenever it can be.
//
// Data parallel (Options::comm with more than one rank): every rank reads the same global
// batches in the same order, each holding its own share (a sharded source, see
// graft/dist/shard.hpp). A training step sums every rank's batch loss, count and correct
// predictions (one small all-reduce, so all ranks see the global batch and stop together on
// a non-finite loss); then each rank backpropagates its share's loss scaled by
// share / global batch, and GradientSync sums the gradients across ranks in buckets started
// during backward. The summed gradient is the one of the global batch's mean loss, so every
// rank applies the step one process would with the whole batch (to float rounding: the
// batch's sum is split in two partial sums). An evaluation gathers every rank's predictions
// back into one process's order, so metrics, confusion matrices and per-group tables are
// exactly one process's. BatchNorm normalises each rank's share with its own statistics, or,
// with Options::sync_batchnorm, with those of the global batch (graft/dist/batchnorm_sync.hpp;
// a rank with an empty share then joins every BatchNorm's sums with zeros, so none waits).
#pragma once

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/dist/batchnorm_sync.hpp"
#include "graft/dist/communicator.hpp"
#include "graft/dist/grad_sync.hpp"
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
    // The ranks of a data-parallel run (null: this process alone); the sources given to the
    // trainer are then sharded for this rank.
    dist::Communicator* comm = nullptr;
    size_t bucket_bytes = size_t(25) << 20;  // gradients summed per collective (PyTorch DDP's 25 MiB)
    // BatchNorm's training statistics over the global batch rather than each rank's share
    // (synchronised BatchNorm); alone it changes nothing.
    bool sync_batchnorm = false;
  };

  Trainer(nn::Network<float, D>& net, Optimizer<float, D>& opt, Options o)
      : net_(net), opt_(&opt), o_(std::move(o)) {
    init();
  }
  Trainer(nn::Network<float, D>& net, Optimizer<float, D>& opt) : Trainer(net, opt, Options()) {}
  // A trainer that only evaluates (graft-eval): no optimizer; train_epoch refuses to run.
  Trainer(nn::Network<float, D>& net, Options o) : net_(net), o_(std::move(o)) { init(); }
  explicit Trainer(nn::Network<float, D>& net) : Trainer(net, Options()) {}
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;
  // The network outlives the trainer: its BatchNorms stop using this trainer's reducer.
  ~Trainer() {
    if (bn_sync_) net_.set_batchnorm_sync(nullptr);
  }

  // One pass over `src` with the network in training mode; the optimizer's rate is scaled
  // by lr_scale. `on_batch` (optional) sees each batch's loss.
  EpochStats train_epoch(BatchSource& src, uint64_t epoch, float lr_scale = 1.0f,
                         const std::function<void(const BatchInfo&)>& on_batch = {}) {
    GRAFT_CHECK(opt_, "train_epoch: this trainer was made for evaluation only (no optimizer)");
    check_shard(src, "train_epoch");
    const auto t0 = std::chrono::steady_clock::now();
    net_.set_training(true);
    nn::FeatureCache<float>* cache = cache_for(src);
    const size_t k = cache ? boundary_ : 0;
    EpochStats st;
    int64_t correct = 0, batches = 0;
    const int64_t total_batches = -1;
    start(src, epoch, cache);
    auto params = net_.params(true);
    const bool dp = distributed();
    while (const Batch* bp = src.next()) {
      const Batch& b = *bp;
      const int64_t mine = b.labels.size();  // this rank's share (the whole batch alone)
      double l = 0, n = double(mine), right = 0;
      const Tensor<int32_t, D>* labels = nullptr;
      if (mine > 0) {
        const Tensor<float, D>& logits = run_forward(b, cache, k, st.cached_batches);
        labels = &on_device(b.labels, labels_dev_);
        l = loss_.forward(logits, *labels);
        right = double(count_correct(b.labels));
      } else {
        if (bn_sync_) net_.forward_without_samples();  // the other ranks' BatchNorms wait for its sums
        if (cache && cache->complete()) ++st.cached_batches;  // an empty share needed no image either
      }
      double sum = l * double(mine);
      if (dp) {  // the global batch: its loss, size and correct predictions
        double s[3] = {sum, n, right};
        comm_->allreduce_sum(s, 3, "the batch's loss and size");
        sum = s[0], n = s[1], right = s[2];
        if (n == 0) continue;  // every file of the batch was unreadable: no step (as alone)
        l = sum / n;
      } else if (mine == 0) {
        continue;  // alone, an empty batch has nothing to learn from
      }
      if (!std::isfinite(l))
        throw NonFiniteLoss(graft::detail::concat("training stopped: the loss is ", l, " at epoch ", epoch,
                                           ", batch ", batches + 1,
                                           "; the last good checkpoint is kept"));
      if (dp) {
        sync_->begin(net_);
        if (mine > 0) {
          loss_.backward(*labels, dlogits_, float(double(mine) / n));
          net_.backward(dlogits_);
        } else {
          sync_->zero_gradients(net_);
          if (bn_sync_) net_.backward_without_samples();  // BatchNorms' sums, hooks in backward's order
        }
        sync_->finish(net_);
      } else {
        loss_.backward(*labels, dlogits_);
        net_.backward(dlogits_);
      }
      opt_->step(net_.context(), params, lr_scale);
      correct += int64_t(right);
      st.loss += sum;
      st.images += int64_t(n);
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
    check_shard(src, "evaluate");
    net_.set_training(false);
    nn::FeatureCache<float>* cache = mirror ? nullptr : cache_for(src);
    const size_t k = cache ? boundary_ : 0;
    Evaluation ev;
    ev.confusion = Confusion(classes);
    int64_t cached = 0, batch_no = 0;
    std::vector<int64_t> batch_of, position;  // data parallel: each prediction's place
    start(src, 0, cache);
    while (const Batch* bp = src.next()) {
      const Batch& b = *bp;
      ++batch_no;
      if (b.labels.size() == 0) continue;  // a rank's empty share
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
        batch_of.push_back(batch_no);
        position.push_back(b.positions.size() == size_t(n) ? b.positions[size_t(i)] : -1);
      }
    }
    if (distributed()) ev = gather(std::move(ev), batch_of, position, classes);
    if (ev.confusion.count()) ev.loss /= double(ev.confusion.count());
    return ev;
  }

  // Compares, across ranks, what must be equal for data parallelism to mean anything: the
  // network (its parameters' names and shapes, what learns, every parameter's and buffer's
  // value) and each source's samples. Throws on every rank, naming the ranks that differ
  // from rank 0. Alone: nothing to compare.
  void verify_same_setup(const std::vector<BatchSource*>& sources) {
    if (!distributed()) return;
    struct Sig {
      uint64_t layout, values, data;
    } mine{0x6772616674u, 0x76616c75u, 0x64617461u};
    Tensor<float> host;
    for (auto& np : net_.params()) {
      for (char c : np.name) mine.layout = random::bits(mine.layout, uint64_t(uint8_t(c)));
      for (int64_t d : np.param->value.shape().dims()) mine.layout = random::bits(mine.layout, uint64_t(d));
      mine.layout = random::bits(mine.layout, np.param->trainable ? 1u : 2u);
      copy_to_host(np.param->value, host);
      mine.values = hash_floats(mine.values, host);
    }
    for (auto* l : net_.layers())
      for (auto& b : l->buffers()) {
        copy_to_host(*b.tensor, host);
        mine.values = hash_floats(mine.values, host);
      }
    for (BatchSource* s : sources) {
      if (!s) continue;
      check_shard(*s, "verify_same_setup");
      mine.data = random::bits(mine.data, uint64_t(s->size()));
      mine.data = random::bits(mine.data, s->fingerprint());
      mine.data = random::bits(mine.data, s->deterministic() ? 3u : 4u);
    }
    const std::vector<Sig> all = dist::allgather_value(*comm_, mine, "the start-up check of networks and data");
    std::string bad;
    for (size_t r = 1; r < all.size(); ++r) {
      std::string what;
      if (all[r].layout != all[0].layout) what = "network (its parameters' names, shapes or what learns)";
      else if (all[r].values != all[0].values) what = "parameter values (load the same weights, with the same seed)";
      if (all[r].data != all[0].data) what += std::string(what.empty() ? "" : " and ") + "data (samples or labels)";
      if (!what.empty()) bad += graft::detail::concat(bad.empty() ? "" : "; ", "rank ", r, "'s ", what);
    }
    GRAFT_CHECK(bad.empty(), "data parallel start-up: ", bad, " differ from rank 0's");
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
  dist::Communicator& communicator() { return *comm_; }
  bool distributed() const { return comm_->size() > 1; }
  // The gradient sync of a data-parallel trainer (null alone), e.g. for its bucket count.
  const dist::GradientSync<D>* gradient_sync() const { return sync_.get(); }
  // The BatchNorm statistics' reducer of a data-parallel trainer with sync_batchnorm (else
  // null), and how many layers it serves.
  const dist::BatchNormSync* batchnorm_sync() const { return bn_sync_.get(); }
  size_t synced_layers() const { return synced_layers_; }
  Optimizer<float, D>& optimizer() {
    GRAFT_CHECK(opt_, "trainer: made for evaluation only, it has no optimizer");
    return *opt_;
  }

 private:
  void init() {
    loss_.setup(net_.context());
    if (!o_.comm) {
      own_comm_ = std::make_unique<dist::SingleProcess>();
      o_.comm = own_comm_.get();
    }
    comm_ = o_.comm;
    if (distributed()) sync_ = std::make_unique<dist::GradientSync<D>>(*comm_, o_.bucket_bytes);
    if (distributed() && o_.sync_batchnorm) {
      bn_sync_ = std::make_unique<dist::BatchNormSync>(*comm_);
      synced_layers_ = net_.set_batchnorm_sync(bn_sync_.get());
    }
  }
  // A source's shard must be this rank's (or the whole data, alone).
  void check_shard(const BatchSource& src, const char* what) const {
    const dist::Shard want = distributed() ? dist::Shard(comm_->rank(), comm_->size()) : dist::Shard();
    const dist::Shard got = src.shard();
    GRAFT_CHECK(got == want, what, ": the batch source holds the samples of rank ", got.rank, " of ", got.ranks,
                ", the trainer is rank ", want.rank, " of ", want.ranks,
                " (shard the sources with the trainer's communicator)");
  }
  static uint64_t hash_floats(uint64_t h, const Tensor<float>& t) {
    h = random::bits(h, uint64_t(t.size()));
    for (int64_t i = 0; i < t.size(); ++i) {
      uint32_t u;
      std::memcpy(&u, t.data() + i, 4);
      h = random::bits(h, u);
    }
    return h;
  }

  // Every rank's predictions, in one process's order: by batch, then by the place in the
  // epoch's order (or by rank when the source gives no places). The loss is summed.
  Evaluation gather(Evaluation ev, const std::vector<int64_t>& batch_of, const std::vector<int64_t>& position,
                    int classes) {
    struct Rec {
      int64_t batch, position, index;
      int32_t label, predicted;
    };
    std::vector<Rec> mine(ev.labels.size());
    for (size_t i = 0; i < mine.size(); ++i)
      mine[i] = {batch_of[i], position[i], ev.indices[i], ev.labels[i], ev.predicted[i]};
    std::vector<int64_t> counts, pcounts;
    const std::vector<char> recs =
        comm_->allgatherv(mine.data(), int64_t(mine.size() * sizeof(Rec)), counts, "the evaluation's predictions");
    const std::vector<char> probs = comm_->allgatherv(ev.probabilities.data(),
                                                      int64_t(ev.probabilities.size() * sizeof(float)), pcounts,
                                                      "the evaluation's probabilities");
    double loss = ev.loss;
    comm_->allreduce_sum(&loss, 1, "the evaluation's loss");
    const size_t total = recs.size() / sizeof(Rec);
    GRAFT_CHECK(probs.size() == total * size_t(classes) * sizeof(float), "evaluate: gathered ", total,
                " predictions with ", probs.size() / sizeof(float), " probabilities for ", classes, " classes");
    std::vector<Rec> all(total);
    std::memcpy(all.data(), recs.data(), recs.size());
    std::vector<int> rank_of(total);
    for (size_t r = 0, at = 0; r < counts.size(); ++r)
      for (int64_t k = 0; k < counts[r] / int64_t(sizeof(Rec)); ++k) rank_of[at++] = int(r);
    std::vector<size_t> order(total);
    for (size_t i = 0; i < total; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::make_tuple(all[a].batch, all[a].position, rank_of[a]) <
             std::make_tuple(all[b].batch, all[b].position, rank_of[b]);
    });
    const float* p = reinterpret_cast<const float*>(probs.data());
    Evaluation out;
    out.confusion = Confusion(classes);
    out.loss = loss;
    for (size_t i : order) {
      const Rec& r = all[i];
      out.confusion.add(r.label, r.predicted);
      out.indices.push_back(r.index);
      out.labels.push_back(r.label);
      out.predicted.push_back(r.predicted);
      out.probabilities.insert(out.probabilities.end(), p + i * size_t(classes), p + (i + 1) * size_t(classes));
    }
    return out;
  }

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
    if (cache && cache->complete() && src.start_labels_only(epoch)) return;
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
      c = std::make_unique<nn::FeatureCache<float>>(src.size(), Shape(d), o_.cache_memory, o_.cache_dir,
                                                    src.shard());
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
  std::unique_ptr<dist::Communicator> own_comm_;  // alone: a single-process communicator
  dist::Communicator* comm_ = nullptr;
  std::unique_ptr<dist::GradientSync<D>> sync_;   // data parallel only
  std::unique_ptr<dist::BatchNormSync> bn_sync_;  // data parallel with sync_batchnorm only
  size_t synced_layers_ = 0;
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
