// BatchNorm2d: batch normalisation over (n, C, H, W) inputs, per channel (and over (n, C),
// BatchNorm1d's case), with exactly torch.nn.BatchNorm2d's semantics:
//
//   training (Layer::training()): y = (x - mean_B) / sqrt(var_B + eps) * gamma + beta with the
//     batch's mean and biased variance, and the running statistics move by `momentum`:
//     running = (1 - momentum) * running + momentum * batch, the running variance taking the
//     batch's unbiased variance. Backward goes through the batch statistics.
//   evaluation: the running statistics; backward is the affine backward of the folded map.
//   set_use_global_stats(true) (Caffe's use_global_stats): the running statistics even while
//     training; the layer is then deterministic and never changes its buffers.
//
// Parameters "scale" (gamma, init 1) and "offset" (beta, init 0, no weight decay); buffers
// "mean" and "variance" (init 0 and 1): the caffe-tensorflow names. Buffers change only in a
// training forward, never in backward nor by an optimizer; freezing never touches them.
//
// A BatchNorm2d whose parameters are all frozen normalises with its running statistics and
// leaves them as they are, also while training (Keras' rule for a frozen BatchNormalization):
// fine-tuning a head on a frozen residual trunk then sees the trunk the source trained, the
// trunk is deterministic, and the feature cache can hold the pooled features. Unfreezing the
// layer gives PyTorch's behaviour back; set_frozen_uses_running_stats(false) keeps PyTorch's
// even when frozen (requires_grad=False still updates running statistics there).
//
// For inference a BatchNorm2d folds into an Affine (to_affine) or into the convolution
// before it (fold_into).
//
// Synchronised (set_stats_reducer, which nn::Network::set_batchnorm_sync calls; the trainers'
// --sync-bn): a training forward with batch statistics normalises with those of every rank's
// samples together, and its backward is the backward of that global normalisation, so that
// every rank computes what one process holding the whole batch would. Forward: one sum of
// (count, per-channel sums) gives the global mean, a second of the squared deviations about
// it the variance (no cancellation of a large mean); the running statistics move with the
// global mean and the unbiased variance of the global count, the same on every rank.
// Backward: with m values per channel over all ranks, the sums of dy and dy * xhat over all
// ranks give dx = gamma * invstd / m * (m * dy - sum dy - xhat * sum dy xhat); dgamma and
// dbeta stay this rank's sums (the gradient sync adds them up with the other parameters').
// The local sums are the backend's (channel_moments, batch_norm_grad_sums, both in double on
// the host, then batch_norm_backward_apply); on CUDA they are graft's kernels, not cuDNN's
// fused calls, which take no outside statistics. A rank whose share is empty joins the sums
// with zeros (forward_without_samples, backward_without_samples).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/layers/affine.hpp"
#include "graft/layers/conv2d.hpp"
#include "graft/layers/init.hpp"
#include "graft/layers/layer.hpp"

namespace graft {

template <class T, class D = CPU>
class BatchNorm2d : public Layer<T, D> {
 public:
  // channels 0: taken from the input at setup.
  BatchNorm2d(std::string name, int64_t channels, double eps = 1e-5, double momentum = 0.1)
      : Layer<T, D>(std::move(name)), c_(channels), eps_(eps), momentum_(momentum) {
    GRAFT_CHECK(channels >= 0, this->where(), ": channels must be >= 0 (0: from the input), got ", channels);
    GRAFT_CHECK(eps > 0, this->where(), ": eps must be positive, got ", eps);
    GRAFT_CHECK(momentum >= 0 && momentum <= 1, this->where(), ": momentum must lie in [0, 1], got ", momentum);
    scale.name = "scale";
    offset.name = "offset";
    offset.decay_mult = 0.0f;
  }

  const char* type() const override { return "BatchNorm2d"; }
  LayerSpec spec() const override {
    LayerSpec s;
    s.op = "batch_norm";
    s.eps = eps_;
    s.momentum = momentum_;
    return s;
  }

  Shape output_shape(const Shape& in) const override {
    GRAFT_CHECK(in.rank() == 4 || in.rank() == 2, this->where(),
                ": expected an (n, C, H, W) or (n, C) input, got shape ", in.str());
    GRAFT_CHECK(c_ == 0 || in[1] == c_, this->where(), ": expected input with ", c_, " channels, got shape ",
                in.str());
    return in;
  }

  void forward(const Tensor<T, D>& x, Tensor<T, D>& y) override {
    check_input(x.shape());
    y.resize(x.shape());
    batch_stats_ = uses_batch_stats();
    if (batch_stats_ && reducer_) {
      synced_forward(&x, &y);
    } else if (batch_stats_) {
      const ChannelDims d = channel_dims(x.shape());
      GRAFT_CHECK(d.n * d.p > 1, this->where(), ": training needs more than one value per channel, got input shape ",
                  x.shape().str());
      Backend<D>::batch_norm_forward_training(this->ctx(), x.shape(), x.data(), scale.value.data(),
                                              offset.value.data(), eps_, momentum_, running_mean.data(),
                                              running_var.data(), save_mean_.data(), save_invstd_.data(), y.data());
    } else {
      Backend<D>::batch_norm_forward_inference(this->ctx(), x.shape(), x.data(), scale.value.data(),
                                               offset.value.data(), running_mean.data(), running_var.data(), eps_,
                                               y.data());
    }
  }

  // Differentiates the forward that produced y: through the batch statistics when that
  // forward used them (training mode, no global stats), else the affine backward.
  void backward(const Tensor<T, D>& x, const Tensor<T, D>& /*y*/, const Tensor<T, D>& dy,
                Tensor<T, D>* dx) override {
    check_input(x.shape());
    GRAFT_CHECK(dy.shape() == x.shape(), this->where(), ": output gradient has shape ", dy.shape().str(),
                ", expected ", x.shape().str());
    const bool dg = scale.trainable, db = offset.trainable;
    if (dg) ensure_grad_shape(scale);
    if (db) ensure_grad_shape(offset);
    if (dx) dx->resize(x.shape());
    if (!dg && !db && !dx) return;
    T* dxp = dx ? dx->data() : nullptr;
    T* dgp = dg ? scale.grad.data() : nullptr;
    T* dbp = db ? offset.grad.data() : nullptr;
    if (batch_stats_ && reducer_)
      synced_backward(&x, &dy, dxp, dgp, dbp);
    else if (batch_stats_)
      Backend<D>::batch_norm_backward(this->ctx(), x.shape(), x.data(), dy.data(), scale.value.data(),
                                      save_mean_.data(), save_invstd_.data(), eps_, dxp, dgp, dbp);
    else
      Backend<D>::batch_norm_backward_global_stats(this->ctx(), x.shape(), x.data(), dy.data(), scale.value.data(),
                                                   running_mean.data(), running_var.data(), eps_, dxp, dgp, dbp);
  }

  // Synchronised batch statistics: sums over the ranks through r (null: this share's own).
  bool set_stats_reducer(StatsReducer* r) override {
    reducer_ = r;
    return true;
  }
  StatsReducer* stats_reducer() const { return reducer_; }
  // An empty share: the sums a training forward with batch statistics makes, with zeros; the
  // running statistics move as on every other rank.
  void forward_without_samples() override {
    batch_stats_ = uses_batch_stats();
    if (batch_stats_ && reducer_) synced_forward(nullptr, nullptr);
  }
  void backward_without_samples(bool dx_wanted) override {
    if (batch_stats_ && reducer_ && dx_wanted && count_ > 0)
      synced_backward(nullptr, nullptr, nullptr, nullptr, nullptr);
  }

  std::vector<Param<T, D>*> params() override { return {&scale, &offset}; }
  std::vector<Buffer<T, D>> buffers() override {
    return {{"mean", &running_mean}, {"variance", &running_var}};
  }

  // A training forward reads the batch (other images change an image's output) and changes
  // the buffers.
  bool deterministic() const override { return !uses_batch_stats(); }

  // gamma 1, beta 0, running mean 0, running variance 1 (PyTorch's reset_parameters).
  void initialize(uint64_t /*seed*/) override {
    init_constant(scale.value, T(1));
    init_constant(offset.value, T(0));
    init_constant(running_mean, T(0));
    init_constant(running_var, T(1));
  }

  // Caffe's use_global_stats: normalise with the running statistics even while training.
  void set_use_global_stats(bool on) { use_global_stats_ = on; }
  bool use_global_stats() const { return use_global_stats_; }
  // Whether a frozen layer (no trainable parameter) uses its running statistics (default on).
  void set_frozen_uses_running_stats(bool on) { frozen_running_ = on; }
  bool frozen_uses_running_stats() const { return frozen_running_; }

  int64_t channels() const { return c_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

  // The evaluation-mode map as an Affine of the same name, set up on this layer's context
  // and input shape: scale = gamma / sqrt(var + eps), offset = beta - mean * scale (computed
  // in double on the host).
  std::unique_ptr<Affine<T, D>> to_affine() const {
    GRAFT_CHECK(this->is_setup(), this->where(), ": to_affine() before setup()");
    auto a = std::make_unique<Affine<T, D>>(this->name(), c_, true);
    Tensor<T> s, o;
    folded(s, o);
    a->setup(this->input_shape(), this->ctx());
    copy_from_host(s, a->scale.value);
    copy_from_host(o, a->offset.value);
    return a;
  }

  // Rewrites the convolution that feeds this layer so that conv alone computes
  // batch_norm(conv(x)) in evaluation mode: weights[o] *= scale[o],
  // biases[o] = biases[o] * scale[o] + offset[o]. The convolution must have a bias (one
  // without has nowhere to put the offset: an error) and C output channels. This layer is
  // left unchanged; drop it from the inference network afterwards.
  void fold_into(Conv2d<T, D>& conv) const {
    GRAFT_CHECK(this->is_setup(), this->where(), ": fold_into() before setup()");
    GRAFT_CHECK(conv.is_setup(), this->where(), ": fold_into(", conv.name(), "): the convolution is not set up");
    GRAFT_CHECK(conv.has_bias(), this->where(), ": fold_into(", conv.name(),
                "): the convolution has no bias to take the offset (build it with bias = true)");
    GRAFT_CHECK(conv.out_channels() == c_, this->where(), ": fold_into(", conv.name(), "): the convolution has ",
                conv.out_channels(), " output channels, expected ", c_, " (weights shape ",
                conv.weights.value.shape().str(), ")");
    Tensor<T> s, o, w, b;
    folded(s, o);
    copy_to_host(conv.weights.value, w);
    copy_to_host(conv.biases.value, b);
    const int64_t per = w.size() / c_;
    for (int64_t oc = 0; oc < c_; ++oc) {
      for (int64_t k = 0; k < per; ++k) w[oc * per + k] = T(double(w[oc * per + k]) * double(s[oc]));
      b[oc] = T(double(b[oc]) * double(s[oc]) + double(o[oc]));
    }
    copy_from_host(w, conv.weights.value);
    copy_from_host(b, conv.biases.value);
  }

  Param<T, D> scale, offset;              // gamma, beta
  Tensor<T, D> running_mean, running_var;  // buffers "mean", "variance"

 protected:
  void on_setup(const Shape& in) override {
    if (c_ == 0) c_ = in[1];
    scale.value.resize(Shape{c_});
    offset.value.resize(Shape{c_});
    running_mean.resize(Shape{c_});
    running_var.resize(Shape{c_});
    save_mean_.resize(Shape{c_});
    save_invstd_.resize(Shape{c_});
    initialize(0);
  }

  // The synchronised training forward; x and y null: this rank has no samples.
  void synced_forward(const Tensor<T, D>* x, Tensor<T, D>* y) {
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    const size_t c = size_t(c_);
    // Round 1: the values per channel (the same for every channel) and their sums.
    sums_.assign(c + 1, 0.0);
    int64_t mine = 0;
    if (x) {
      const ChannelDims d = channel_dims(x->shape());
      mine = d.n * d.p;
      Backend<D>::channel_moments(this->ctx(), x->shape(), x->data(), static_cast<const double*>(nullptr),
                                  sums_.data() + 1, static_cast<double*>(nullptr));
      sums_[0] = double(mine);
    }
    const std::string what = this->where() + ": the batch's count and sums";
    reducer_->sum(sums_.data(), int64_t(c + 1), what.c_str());
    const double m = sums_[0];
    count_ = m;
    if (m == 0) return;  // no rank has a sample: the trainer takes no step
    GRAFT_CHECK(m > 1, this->where(), ": training needs more than one value per channel over all ranks, got ", m,
                " (this rank's input: ", x ? x->shape().str() : std::string("none"), ")");
    mean_.resize(c);
    for (size_t k = 0; k < c; ++k) mean_[k] = sums_[k + 1] / m;
    // Round 2: squared deviations about the global mean.
    sq_.assign(c, 0.0);
    if (x) {
      dev_.resize(c);
      Backend<D>::channel_moments(this->ctx(), x->shape(), x->data(), mean_.data(), dev_.data(), sq_.data());
    }
    const std::string what2 = this->where() + ": the batch's squared deviations";
    reducer_->sum(sq_.data(), int64_t(c), what2.c_str());
    invstd_.resize(c);
    copy_to_host(scale.value, h_gamma_);
    copy_to_host(offset.value, h_beta_);
    copy_to_host(running_mean, h_rmean_);
    copy_to_host(running_var, h_rvar_);
    h_fold_.resize(Shape{2 * c_});
    h_save_.resize(Shape{2 * c_});
    for (size_t k = 0; k < c; ++k) {
      const double var = sq_[k] / m, inv = 1.0 / std::sqrt(var + eps_);
      invstd_[k] = inv;
      const double sc = double(h_gamma_[int64_t(k)]) * inv;
      h_fold_[int64_t(k)] = T(sc);
      h_fold_[int64_t(c + k)] = T(double(h_beta_[int64_t(k)]) - mean_[k] * sc);
      h_save_[int64_t(k)] = T(mean_[k]);
      h_save_[int64_t(c + k)] = T(inv);
      h_rmean_[int64_t(k)] = T((1.0 - momentum_) * double(h_rmean_[int64_t(k)]) + momentum_ * mean_[k]);
      h_rvar_[int64_t(k)] = T((1.0 - momentum_) * double(h_rvar_[int64_t(k)]) + momentum_ * sq_[k] / (m - 1));
    }
    copy_from_host(h_rmean_, running_mean);
    copy_from_host(h_rvar_, running_var);
    Tensor<T> sm = Tensor<T>::view(h_save_.data(), Shape{c_}), si = Tensor<T>::view(h_save_.data() + c_, Shape{c_});
    copy_from_host(sm, save_mean_);
    copy_from_host(si, save_invstd_);
    if (!x) return;
    copy_from_host(h_fold_, fold_);
    Backend<D>::affine_forward(this->ctx(), x->shape(), x->data(), fold_.data(), fold_.data() + c_, y->data());
  }

  // The synchronised backward (after synced_forward); x and dy null: this rank has no samples.
  void synced_backward(const Tensor<T, D>* x, const Tensor<T, D>* dy, T* dx, T* dgamma, T* dbeta) {
    const size_t c = size_t(c_);
    sums_.assign(2 * c, 0.0);  // sum dy, then sum dy * xhat
    if (x) {
      Backend<D>::batch_norm_grad_sums(this->ctx(), x->shape(), x->data(), dy->data(), mean_.data(), invstd_.data(),
                                       sums_.data(), sums_.data() + c);
      if (dgamma || dbeta) {  // this rank's share: the gradient sync sums parameters across ranks
        h_fold_.resize(Shape{2 * c_});
        for (size_t k = 0; k < c; ++k) {
          h_fold_[int64_t(k)] = T(sums_[c + k]);
          h_fold_[int64_t(c + k)] = T(sums_[k]);
        }
        if (dgamma) {
          Tensor<T> g = Tensor<T>::view(h_fold_.data(), Shape{c_});
          copy_from_host(g, scale.grad);
        }
        if (dbeta) {
          Tensor<T> b = Tensor<T>::view(h_fold_.data() + c_, Shape{c_});
          copy_from_host(b, offset.grad);
        }
      }
      if (!dx) return;  // no input gradient: nothing needs the other ranks' sums
    }
    const std::string what = this->where() + ": the gradient's sums";
    reducer_->sum(sums_.data(), int64_t(2 * c), what.c_str());
    if (!x) return;
    copy_to_host(scale.value, h_gamma_);
    const double m = count_;
    ka_.resize(c), kb_.resize(c), kc_.resize(c);
    for (size_t k = 0; k < c; ++k) {
      const double f = double(h_gamma_[int64_t(k)]) * invstd_[k] / m;
      ka_[k] = f * m;
      kb_[k] = -f * sums_[c + k] * invstd_[k];
      kc_[k] = -f * sums_[k];
    }
    Backend<D>::batch_norm_backward_apply(this->ctx(), x->shape(), x->data(), dy->data(), mean_.data(), ka_.data(),
                                          kb_.data(), kc_.data(), dx);
  }

 private:
  bool uses_batch_stats() const {
    const bool frozen = !scale.trainable && !offset.trainable;
    return this->training() && !use_global_stats_ && !(frozen_running_ && frozen);
  }
  void check_input(const Shape& s) const {
    GRAFT_CHECK(this->is_setup(), this->where(), ": used before setup()");
    output_shape(s);  // rank and channels; H and W may change from call to call
  }
  // scale and offset of the evaluation-mode map, on the host.
  void folded(Tensor<T>& s, Tensor<T>& o) const {
    Tensor<T> g, b, m, v;
    copy_to_host(scale.value, g);
    copy_to_host(offset.value, b);
    copy_to_host(running_mean, m);
    copy_to_host(running_var, v);
    s.resize(Shape{c_});
    o.resize(Shape{c_});
    for (int64_t k = 0; k < c_; ++k) {
      const double sk = double(g[k]) / std::sqrt(double(v[k]) + eps_);
      s[k] = T(sk);
      o[k] = T(double(b[k]) - double(m[k]) * sk);
    }
  }

  int64_t c_;
  double eps_, momentum_;
  bool use_global_stats_ = false;
  bool frozen_running_ = true;
  bool batch_stats_ = false;              // whether the last forward used the batch's statistics
  Tensor<T, D> save_mean_, save_invstd_;  // that forward's mean and 1/sqrt(var + eps)
  // Synchronised statistics: the reducer (null: per share), the last forward's global count,
  // mean and 1/sqrt(var + eps) in double, and reused host buffers.
  StatsReducer* reducer_ = nullptr;
  double count_ = 0;
  std::vector<double> sums_, sq_, dev_, mean_, invstd_, ka_, kb_, kc_;
  Tensor<T> h_gamma_, h_beta_, h_rmean_, h_rvar_, h_fold_, h_save_;
  Tensor<T, D> fold_;  // the forward's scale and offset, on the device
};

}  // namespace graft
