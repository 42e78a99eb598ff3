// Dropout (inverted): while training, each element is zeroed with probability p and the
// rest scaled by 1/(1-p); in evaluation it is the identity.
//
// The mask is a pure function of (seed, step, element index) through the counter-based
// generator: backward recomputes it instead of storing it, CPU and CUDA draw the same
// mask, and a checkpoint restores the stream from `step` alone. Each training forward
// uses the current step and then advances it.
#pragma once

#include <cstdint>
#include <string>

#include "graft/core/random.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class Dropout : public Layer<T, D> {
 public:
  Dropout(std::string name, float p, uint64_t seed = 0)
      : Layer<T, D>(std::move(name)), p_(p), seed_(seed) {
    GRAFT_CHECK(p >= 0.0f && p < 1.0f, this->where(), ": drop probability must be in [0, 1), got ", p);
  }
  const char* type() const override { return "Dropout"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "dropout";
    return s;
  }
  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() >= 1, this->where(), ": expected a batch, got shape ", in.str());
    return in;
  }
  bool deterministic() const override { return !this->training() || p_ == 0.0f; }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    y.resize(x.shape());
    if (deterministic()) {  // on the network's stream
      if (relu_)
        Backend<D>::relu_forward(this->ctx(), x.size(), x.data(), y.data());
      else
        Backend<D>::copy(this->ctx(), x.size(), x.data(), y.data());
      return;
    }
    last_stream_ = stream(step_++);
    if (relu_)
      Backend<D>::dropout_relu_apply(this->ctx(), x.size(), x.data(), y.data(), p_, last_stream_);
    else
      Backend<D>::dropout_apply(this->ctx(), x.size(), x.data(), y.data(), p_, last_stream_);
  }
  // The ReLU below, fused (Network::fuse_relu): y = mask(max(x, 0)). Backward stays dy under
  // the mask: the ReLU's own backward masks by its output's sign.
  bool fuse_relu_prologue(bool on) override {
    relu_ = on;
    return true;
  }
  void backward(const Tensor<T, D>& /*x*/, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    if (!dx) return;
    GRAFT_CHECK(dy.shape() == y.shape(), this->where(), ": output gradient has shape ",
                dy.shape().str(), ", expected ", y.shape().str());
    dx->resize(dy.shape());
    if (deterministic()) {
      Backend<D>::copy(this->ctx(), dy.size(), dy.data(), dx->data());
      return;
    }
    Backend<D>::dropout_apply(this->ctx(), dy.size(), dy.data(), dx->data(), p_, last_stream_);
  }

  // The mask stream's seed: a network's initialize(seed) reseeds its dropout layers.
  void initialize(uint64_t seed) override { seed_ = seed; }
  std::vector<Counter> counters() override { return {{"seed", &seed_}, {"step", &step_}}; }

  float probability() const { return p_; }
  uint64_t seed() const { return seed_; }
  void set_seed(uint64_t seed) { seed_ = seed; }
  // The number of training forwards so far; set it to resume or to replay a mask.
  uint64_t step() const { return step_; }
  void set_step(uint64_t step) { step_ = step; }

 private:
  uint64_t stream(uint64_t step) const {
    return random::bits(seed_ ^ random::hash(this->name().c_str()), step);
  }
  float p_;
  uint64_t seed_;
  uint64_t step_ = 0;
  uint64_t last_stream_ = 0;
  bool relu_ = false;  // rectify the input first (fuse_relu_prologue)
};

}  // namespace graft
