// GradientSync: sums the trainable parameters' gradients across ranks, in buckets started as
// soon as backward has produced them, so that communication overlaps the rest of backward.
//
// Buckets are filled in the order backward finishes parameters (node order reversed), up to
// `bucket_bytes` each (PyTorch DDP's default is 25 MiB); that order is the same on every rank,
// and buckets start strictly in it, so every rank starts the same collectives in the same
// order. A bucket starts from Network's backward hook once the last of its parameters'
// nodes has run. The caller scales the loss so that the sum is the mean of the global batch
// (train/trainer.hpp).
//
// The device engine does the summing: on the CPU the bucket's gradients are packed into one
// host buffer and summed by the communicator (MPI's non-blocking all-reduce, progressed from
// the hook); on CUDA by NCCL on a stream of its own (graft/dist/nccl.hpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "graft/core/tensor.hpp"
#include "graft/dist/communicator.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace dist {

// A tensor of gradient floats on the device.
struct Span {
  float* data;
  int64_t n;
};

// The device side of a bucket's sum; the CPU's is the communicator itself.
template <class D>
class DeviceAllreduce;

template <>
class DeviceAllreduce<CPU> {
 public:
  explicit DeviceAllreduce(Communicator& c) : c_(c) {}
  const char* engine() const { return c_.engine(); }
  void start(size_t bucket, const std::vector<Span>& spans, Context<CPU>&) {
    if (buffers_.size() <= bucket) buffers_.resize(bucket + 1), requests_.resize(bucket + 1);
    std::vector<float>& buf = buffers_[bucket];
    int64_t total = 0;
    for (const Span& s : spans) total += s.n;
    buf.resize(size_t(total));
    float* p = buf.data();
    for (const Span& s : spans) {
      std::memcpy(p, s.data, size_t(s.n) * sizeof(float));
      p += s.n;
    }
    requests_[bucket] = c_.start_allreduce_sum(buf.data(), total, "gradient all-reduce");
  }
  void finish(size_t bucket, const std::vector<Span>& spans, Context<CPU>&) {
    c_.wait(requests_[bucket]);
    const float* p = buffers_[bucket].data();
    for (const Span& s : spans) {
      std::memcpy(s.data, p, size_t(s.n) * sizeof(float));
      p += s.n;
    }
  }
  void progress() { c_.progress(); }

 private:
  Communicator& c_;
  std::vector<std::vector<float>> buffers_;
  std::vector<int64_t> requests_;
};

}  // namespace dist
}  // namespace graft

// CUDA translation units (nvcc) get the CUDA engine.
#if defined(__CUDACC__) && defined(GRAFT_WITH_CUDA)
#include "graft/dist/nccl.hpp"
#endif

namespace graft {
namespace dist {

template <class D>
class GradientSync {
 public:
  GradientSync(Communicator& c, size_t bucket_bytes = size_t(25) << 20) : engine_(c), bucket_bytes_(bucket_bytes) {
    GRAFT_CHECK(bucket_bytes > 0, "gradient sync: the bucket size must be positive");
  }

  // Before a backward: (re)builds the buckets when what learns has changed, and hooks the
  // network's backward.
  void begin(nn::Network<float, D>& net) {
    plan(net);
    started_ = 0;
    for (size_t b = 0; b < buckets_.size(); ++b) buckets_[b].remaining = buckets_[b].params;
    net.set_backward_hook([this, &net](size_t node) { on_node(net, node); });
  }
  // For a rank whose share of the batch is empty: its gradients are zeros.
  void zero_gradients(nn::Network<float, D>& net) {
    for (auto& np : net.params(true)) {
      np.param->grad.resize(np.param->value.shape());
      np.param->grad.zero();
    }
  }
  // After the backward: starts what has not started, waits for every bucket, and leaves the
  // summed gradients in the parameters.
  void finish(nn::Network<float, D>& net) {
    net.set_backward_hook({});
    while (started_ < buckets_.size()) start(net, started_);
    for (size_t b = 0; b < buckets_.size(); ++b) engine_.finish(b, spans(b), net.context());
  }

  size_t buckets() const { return buckets_.size(); }
  int64_t floats() const { return floats_; }  // summed per step
  // Buckets started while backward still had nodes to run (overlap), over all steps.
  int64_t started_during_backward() const { return early_; }
  const char* engine() const { return engine_.engine(); }

 private:
  struct Bucket {
    std::vector<Param<float, D>*> members;
    int params = 0, remaining = 0;
  };

  void plan(nn::Network<float, D>& net) {
    std::vector<Param<float, D>*> now;
    for (auto& np : net.params(true)) now.push_back(np.param);
    if (now == planned_ && net.size() == node_bucket_.size()) return;
    planned_ = now;
    buckets_.clear();
    node_bucket_.assign(net.size(), {});
    floats_ = 0;
    size_t bytes = 0;
    for (size_t i = net.size(); i-- > 0;) {
      for (auto* p : net.layer(i).params()) {
        if (!p->trainable) continue;
        if (buckets_.empty() || bytes >= bucket_bytes_) {
          buckets_.emplace_back();
          bytes = 0;
        }
        buckets_.back().members.push_back(p);
        ++buckets_.back().params;
        node_bucket_[i].push_back(buckets_.size() - 1);
        bytes += size_t(p->value.size()) * sizeof(float);
        floats_ += p->value.size();
      }
    }
  }
  void on_node(nn::Network<float, D>& net, size_t node) {
    for (size_t b : node_bucket_[node]) --buckets_[b].remaining;
    while (started_ < buckets_.size() && buckets_[started_].remaining == 0) {
      start(net, started_);
      if (started_ < buckets_.size()) ++early_;  // the last one starts when backward ends anyway
    }
    engine_.progress();
  }
  void start(nn::Network<float, D>& net, size_t b) {
    engine_.start(b, spans(b), net.context());
    started_ = b + 1;
  }
  std::vector<Span> spans(size_t b) {
    std::vector<Span> s;
    for (auto* p : buckets_[b].members) {
      GRAFT_CHECK(p->grad.shape() == p->value.shape(), "gradient sync: ", "a trainable parameter of shape ",
                  p->value.shape().str(), " has no gradient (", p->grad.shape().str(), ")");
      s.push_back({p->grad.data(), p->grad.size()});
    }
    return s;
  }

  DeviceAllreduce<D> engine_;
  size_t bucket_bytes_;
  std::vector<Bucket> buckets_;
  std::vector<std::vector<size_t>> node_bucket_;  // the buckets each node's parameters are in
  std::vector<Param<float, D>*> planned_;
  size_t started_ = 0;
  int64_t floats_ = 0, early_ = 0;
};

}  // namespace dist
}  // namespace graft
