// Optimizers: SGD (momentum, Nesterov, weight decay) and Adam, with PyTorch's semantics
// and defaults (Adam: lr 1e-3, betas 0.9/0.999, eps 1e-8 — also TensorFlow's
// AdamOptimizer() defaults, which the original trainer used).
//
// An optimizer updates the trainable parameters it is given, each with its own state
// (momentum buffer; Adam's m, v and step count) kept by the parameter's name, so a
// parameter unfrozen later starts fresh while the others continue. Each parameter's rate
// is lr * lr_scale (a schedule) * Param::lr_mult, its decay weight_decay * decay_mult.
//
// A step gathers every tensor's update and hands them to the backend at once
// (Backend<D>::adam_update_multi / sgd_update_multi): on CUDA one launch per 24 tensors
// instead of one per tensor; on the CPU the same single-tensor loops as before.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graft/backend/optim_items.hpp"
#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/layer.hpp"

namespace graft {
namespace train {

template <class T, class D>
struct ParamRef {
  std::string name;  // "conv1_1/weights"
  Param<T, D>* param;
};

// One parameter's optimizer state: named tensors ("momentum", "m", "v") and a step count.
template <class T, class D>
struct ParamState {
  std::map<std::string, Tensor<T, D>> tensors;
  int64_t step = 0;
};

template <class T, class D>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual const char* type() const = 0;
  virtual float base_lr() const = 0;

  // Updates every trainable parameter in `params` (a range of {name, param}; frozen ones
  // are skipped), on the context's device.
  template <class Range>
  void step(Context<D>& ctx, const Range& params, float lr_scale = 1.0f) {
    for (const auto& np : params)  // every check before any update: a refused step changes nothing
      GRAFT_CHECK(!np.param->trainable || np.param->grad.shape() == np.param->value.shape(), "optimizer: ", np.name,
                  " has no gradient of its shape ", np.param->value.shape().str(),
                  " (was backward run with it trainable?)");
    for (const auto& np : params)
      if (np.param->trainable) update(ctx, *np.param, state_[np.name], lr_scale);
    finish(ctx);
    ++steps_;
  }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }
  // The state by parameter name, for checkpoints.
  std::map<std::string, ParamState<T, D>>& state() { return state_; }

 protected:
  // Queues (or runs) one parameter's update; finish() runs what was queued, once per step.
  virtual void update(Context<D>& ctx, Param<T, D>& p, ParamState<T, D>& s, float lr_scale) = 0;
  virtual void finish(Context<D>& /*ctx*/) {}
  static Tensor<T, D>& zeroed(ParamState<T, D>& s, const char* key, const Shape& shape) {
    Tensor<T, D>& t = s.tensors[key];
    if (t.shape() != shape) {
      t.resize(shape);
      t.zero();
    }
    return t;
  }

 private:
  std::map<std::string, ParamState<T, D>> state_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

template <class T, class D>
class Sgd : public Optimizer<T, D> {
 public:
  explicit Sgd(const SgdOptions& o = {}) : o_(o) {
    GRAFT_CHECK(o.lr > 0 && o.momentum >= 0 && o.weight_decay >= 0, "sgd: bad options");
    GRAFT_CHECK(!o.nesterov || o.momentum > 0, "sgd: Nesterov needs momentum");
  }
  const char* type() const override { return "sgd"; }
  float base_lr() const override { return o_.lr; }

 protected:
  void update(Context<D>& ctx, Param<T, D>& p, ParamState<T, D>& s, float lr_scale) override {
    T* buf = o_.momentum != 0 ? this->zeroed(s, "momentum", p.value.shape()).data() : nullptr;
    ++s.step;
    (void)ctx;
    SgdItem<T> it;
    it.w = p.value.data();
    it.g = p.grad.data();
    it.buf = buf;
    it.n = p.value.size();
    it.lr = o_.lr * lr_scale * p.lr_mult;
    it.weight_decay = o_.weight_decay * p.decay_mult;
    pending_.push_back(it);
  }
  void finish(Context<D>& ctx) override {
    if (!pending_.empty()) Backend<D>::sgd_update_multi(ctx, pending_.data(), pending_.size(), o_.momentum, o_.nesterov);
    pending_.clear();
  }

 private:
  SgdOptions o_;
  std::vector<SgdItem<T>> pending_;  // this step's tensors (capacity kept: no allocation per step)
};

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

template <class T, class D>
class Adam : public Optimizer<T, D> {
 public:
  explicit Adam(const AdamOptions& o = {}) : o_(o) {
    GRAFT_CHECK(o.lr > 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 &&
                    o.eps > 0 && o.weight_decay >= 0,
                "adam: bad options");
  }
  const char* type() const override { return "adam"; }
  float base_lr() const override { return o_.lr; }

 protected:
  void update(Context<D>& ctx, Param<T, D>& p, ParamState<T, D>& s, float lr_scale) override {
    T* m = this->zeroed(s, "m", p.value.shape()).data();
    T* v = this->zeroed(s, "v", p.value.shape()).data();
    ++s.step;
    (void)ctx;
    AdamItem<T> it;
    it.w = p.value.data();
    it.g = p.grad.data();
    it.m = m;
    it.v = v;
    it.n = p.value.size();
    it.lr = o_.lr * lr_scale * p.lr_mult;
    it.weight_decay = o_.weight_decay * p.decay_mult;
    it.step = s.step;
    pending_.push_back(it);
  }
  void finish(Context<D>& ctx) override {
    if (!pending_.empty()) Backend<D>::adam_update_multi(ctx, pending_.data(), pending_.size(), o_.beta1, o_.beta2, o_.eps);
    pending_.clear();
  }

 private:
  AdamOptions o_;
  std::vector<AdamItem<T>> pending_;  // this step's tensors (capacity kept: no allocation per step)
};

}  // namespace train
}  // namespace graft
