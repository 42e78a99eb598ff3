// Backend<CPU>: what the layers call on the host. Everything here works for float and for
// double (the gradient checks run in double).
#pragma once

#include <cstdint>

#include "graft/backend/cpu/context.hpp"
#include "graft/core/error.hpp"
#include "graft/backend/geometry.hpp"
#include "graft/backend/optim_items.hpp"
#include "graft/core/shape.hpp"
#include "graft/backend/cpu/activation.hpp"
#include "graft/backend/cpu/conv.hpp"
#include "graft/backend/cpu/elementwise.hpp"
#include "graft/backend/cpu/linear.hpp"
#include "graft/backend/cpu/norm.hpp"
#include "graft/backend/cpu/optim.hpp"
#include "graft/backend/cpu/pool.hpp"
#include "graft/backend/cpu/softmax.hpp"

namespace graft {

template <>
struct Backend<CPU> {
  template <class T>
  using ConvPlan = cpu::ConvPlan<T>;
  template <class T>
  using PoolPlan = cpu::PoolPlan<T>;

  // dst = src, n elements (the layers' copies: Flatten, Dropout in evaluation).
  template <class T>
  static void copy(Context<CPU>&, int64_t n, const T* src, T* dst) {
    if (n > 0 && src != dst) Memory<CPU>::copy(dst, src, static_cast<size_t>(n) * sizeof(T));
  }
  // The layout hooks of Backend<CUDA> (channels-last mode): the CPU always stores the logical
  // NCHW order, so the conversions are plain copies.
  static bool stored_nhwc(const Context<CPU>&, const Shape&) { return false; }
  template <class T>
  static void to_stored(Context<CPU>& ctx, const Shape& s, const T* src, T* dst) {
    copy(ctx, s.numel(), src, dst);
  }
  template <class T>
  static void to_logical(Context<CPU>& ctx, const Shape& s, const T* src, T* dst) {
    copy(ctx, s.numel(), src, dst);
  }
  template <class T>
  static void relu_forward(Context<CPU>&, int64_t n, const T* x, T* y) {
    cpu::relu_forward(n, x, y);
  }
  template <class T>
  static void relu_backward(Context<CPU>&, int64_t n, const T* y, const T* dy, T* dx) {
    cpu::relu_backward(n, y, dy, dx);
  }
  // LeakyRelu: y = x > 0 ? x : alpha * x; backward reads x.
  template <class T>
  static void leaky_relu_forward(Context<CPU>&, int64_t n, T alpha, const T* x, T* y) {
    cpu::leaky_relu_forward(n, alpha, x, y);
  }
  template <class T>
  static void leaky_relu_backward(Context<CPU>&, int64_t n, T alpha, const T* x, const T* dy, T* dx) {
    cpu::leaky_relu_backward(n, alpha, x, dy, dx);
  }
  // PRelu on a logical shape s of rank 2 or 4: the slope of channel c is slope[shared ? 0 : c];
  // backward's null outputs are skipped.
  template <class T>
  static void prelu_forward(Context<CPU>&, const Shape& s, const T* x, const T* slope, bool shared, T* y) {
    const ChannelDims d = channel_dims(s);
    cpu::prelu_forward(d.n, d.c, d.p, x, slope, shared, y);
  }
  template <class T>
  static void prelu_backward(Context<CPU>&, const Shape& s, const T* x, const T* dy, const T* slope, bool shared,
                             T* dx, T* dslope) {
    const ChannelDims d = channel_dims(s);
    cpu::prelu_backward(d.n, d.c, d.p, x, dy, slope, shared, dx, dslope);
  }
  // Softmax over axis 1 of a logical shape of rank 2 or 4; backward reads y.
  template <class T>
  static void softmax_forward(Context<CPU>&, const Shape& s, const T* x, T* y) {
    const ChannelDims d = channel_dims(s);
    cpu::softmax_channels_forward(d.n, d.c, d.p, x, y);
  }
  template <class T>
  static void softmax_backward(Context<CPU>&, const Shape& s, const T* y, const T* dy, T* dx) {
    const ChannelDims d = channel_dims(s);
    cpu::softmax_channels_backward(d.n, d.c, d.p, y, dy, dx);
  }
  // dst += src, n elements.
  template <class T>
  static void accumulate(Context<CPU>&, int64_t n, const T* src, T* dst) {
    cpu::accumulate(n, src, dst);
  }
  // y = a + b, and y = max(a + b, 0) (Add, AddReLU), n elements.
  template <class T>
  static void add(Context<CPU>&, int64_t n, const T* a, const T* b, T* y) {
    cpu::add(n, a, b, y);
  }
  template <class T>
  static void add_relu(Context<CPU>&, int64_t n, const T* a, const T* b, T* y) {
    cpu::add_relu(n, a, b, y);
  }
  // Zero padding anchored at index 0 (Add with zero_pad), for tensors of rank 1 to 4 whose
  // logical shapes `small` <= `big` on every axis:
  //   pad_add: dst (big) = (accumulate ? dst : 0) + src (small) zero-padded
  //   crop:    dst (small) = src (big) cut to the small sizes
  template <class T>
  static void pad_add(Context<CPU>&, const Shape& small, const T* src, const Shape& big, T* dst, bool accumulate) {
    int64_t s[4], b[4];
    dims4(small, s);
    dims4(big, b);
    cpu::pad_add(s, src, b, dst, accumulate);
  }
  template <class T>
  static void crop(Context<CPU>&, const Shape& big, const T* src, const Shape& small, T* dst) {
    int64_t s[4], b[4];
    dims4(small, s);
    dims4(big, b);
    cpu::crop(b, src, s, dst);
  }
  template <class T>
  static void dropout_apply(Context<CPU>&, int64_t n, const T* in, T* out, float p,
                            uint64_t stream) {
    cpu::dropout_apply(n, in, out, p, stream);
  }
  template <class T>
  static void dropout_relu_apply(Context<CPU>&, int64_t n, const T* in, T* out, float p, uint64_t stream) {
    cpu::dropout_relu_apply(n, in, out, p, stream);
  }
  template <class T>
  static void linear_forward(Context<CPU>&, int64_t n, int64_t in, int64_t out, const T* x,
                             const T* w, const T* b, T* y) {
    cpu::linear_forward(n, in, out, x, w, b, y);
  }
  template <class T>
  static void linear_backward_data(Context<CPU>&, int64_t n, int64_t in, int64_t out,
                                   const T* dy, const T* w, T* dx) {
    cpu::linear_backward_data(n, in, out, dy, w, dx);
  }
  template <class T>
  static void linear_backward_params(Context<CPU>&, int64_t n, int64_t in, int64_t out,
                                     const T* x, const T* dy, T* dw, T* db) {
    cpu::linear_backward_params(n, in, out, x, dy, dw, db);
  }
  // ---- per-channel layers (Affine, BatchNorm2d) on a logical shape s of rank 2 or 4 ----
  // (n, C) or (n, C, H, W); per-channel vectors have C elements. See backend/cpu/norm.hpp.
  // y = x * scale[c] + offset[c] (offset null: no offset); the _relu form then max(., 0).
  template <class T>
  static void affine_forward(Context<CPU>&, const Shape& s, const T* x, const T* scale, const T* offset, T* y) {
    const ChannelDims d = channel_dims(s);
    cpu::affine_forward(d.n, d.c, d.p, x, scale, offset, y);
  }
  template <class T>
  static void affine_relu_forward(Context<CPU>&, const Shape& s, const T* x, const T* scale, const T* offset,
                                  T* y) {
    const ChannelDims d = channel_dims(s);
    cpu::affine_forward(d.n, d.c, d.p, x, scale, offset, y, /*relu=*/true);
  }
  // dx = dy * scale[c], dscale[c] = sum dy * x, doffset[c] = sum dy; null outputs skipped.
  template <class T>
  static void affine_backward(Context<CPU>&, const Shape& s, const T* x, const T* dy, const T* scale, T* dx,
                              T* dscale, T* doffset) {
    const ChannelDims d = channel_dims(s);
    cpu::affine_backward(d.n, d.c, d.p, x, dy, scale, dx, dscale, doffset);
  }
  // scale = gamma / sqrt(var + eps), offset = beta - mean * scale (c channels).
  template <class T>
  static void batch_norm_fold(Context<CPU>&, int64_t c, const T* gamma, const T* beta, const T* mean,
                              const T* var, double eps, T* scale, T* offset) {
    cpu::batch_norm_fold(c, gamma, beta, mean, var, eps, scale, offset);
  }
  // Batch statistics (biased variance) normalise x; save_mean and save_invstd (1/sqrt(var +
  // eps)) keep them for backward; the running averages move by `momentum` (unbiased variance).
  template <class T>
  static void batch_norm_forward_training(Context<CPU>&, const Shape& s, const T* x, const T* gamma,
                                          const T* beta, double eps, double momentum, T* running_mean,
                                          T* running_var, T* save_mean, T* save_invstd, T* y) {
    const ChannelDims d = channel_dims(s);
    cpu::batch_norm_forward_training(d.n, d.c, d.p, x, gamma, beta, eps, momentum, running_mean, running_var,
                                     save_mean, save_invstd, y);
  }
  // y = (x - mean) / sqrt(var + eps) * gamma + beta with the given (running) statistics.
  template <class T>
  static void batch_norm_forward_inference(Context<CPU>& ctx, const Shape& s, const T* x, const T* gamma,
                                           const T* beta, const T* mean, const T* var, double eps, T* y) {
    const ChannelDims d = channel_dims(s);
    T* folded = ctx.scratch<T>(size_t(2 * d.c));
    cpu::batch_norm_fold(d.c, gamma, beta, mean, var, eps, folded, folded + d.c);
    cpu::affine_forward(d.n, d.c, d.p, x, folded, folded + d.c, y);
  }
  // Backward through the batch statistics saved by batch_norm_forward_training (eps: the
  // forward's; cuDNN asks for it, the saved 1/sqrt(var + eps) already holds it). Null outputs
  // are skipped.
  template <class T>
  static void batch_norm_backward(Context<CPU>&, const Shape& s, const T* x, const T* dy, const T* gamma,
                                  const T* save_mean, const T* save_invstd, double /*eps*/, T* dx, T* dgamma,
                                  T* dbeta) {
    const ChannelDims d = channel_dims(s);
    cpu::batch_norm_backward(d.n, d.c, d.p, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }
  // Backward with fixed statistics (evaluation mode, use_global_stats): an affine backward.
  template <class T>
  static void batch_norm_backward_global_stats(Context<CPU>&, const Shape& s, const T* x, const T* dy,
                                               const T* gamma, const T* mean, const T* var, double eps, T* dx,
                                               T* dgamma, T* dbeta) {
    const ChannelDims d = channel_dims(s);
    cpu::batch_norm_backward_global_stats(d.n, d.c, d.p, x, dy, gamma, mean, var, eps, dx, dgamma, dbeta);
  }

  // Synchronised batch normalisation's local pieces (backend/cpu/norm.hpp), per-channel
  // doubles on the host: sums of x - shift (and squares), the backward's sums of dy and
  // dy * xhat, and dx = a * dy + b * (x - mean) + k from the summed ones.
  template <class T>
  static void channel_moments(Context<CPU>&, const Shape& s, const T* x, const double* shift, double* sum,
                              double* sq) {
    const ChannelDims d = channel_dims(s);
    cpu::channel_moments(d.n, d.c, d.p, x, shift, sum, sq);
  }
  template <class T>
  static void batch_norm_grad_sums(Context<CPU>&, const Shape& s, const T* x, const T* dy, const double* mean,
                                   const double* invstd, double* sg, double* sgx) {
    const ChannelDims d = channel_dims(s);
    cpu::batch_norm_grad_sums(d.n, d.c, d.p, x, dy, mean, invstd, sg, sgx);
  }
  template <class T>
  static void batch_norm_backward_apply(Context<CPU>&, const Shape& s, const T* x, const T* dy, const double* mean,
                                        const double* a, const double* b, const double* k, T* dx) {
    const ChannelDims d = channel_dims(s);
    cpu::batch_norm_backward_apply(d.n, d.c, d.p, x, dy, mean, a, b, k, dx);
  }

  // Labels are checked to lie in [0, k) by the caller on the host copy.
  template <class T>
  static double softmax_xent_forward(Context<CPU>&, int64_t n, int64_t k, const T* logits,
                                     const int32_t* labels, T* probs) {
    return cpu::softmax_xent_forward(n, k, logits, labels, probs);
  }
  template <class T>
  static void softmax_xent_backward(Context<CPU>&, int64_t n, int64_t k, const T* probs,
                                    const int32_t* labels, T scale, T* dlogits) {
    cpu::softmax_xent_backward(n, k, probs, labels, scale, dlogits);
  }
  template <class T>
  static void sgd_update(Context<CPU>&, int64_t n, T* w, const T* g, T* buf, float lr,
                         float momentum, float weight_decay, bool nesterov) {
    cpu::sgd_update(n, w, g, buf, lr, momentum, weight_decay, nesterov);
  }
  template <class T>
  static void adam_update(Context<CPU>&, int64_t n, T* w, const T* g, T* m, T* v, float lr,
                          float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    cpu::adam_update(n, w, g, m, v, lr, beta1, beta2, eps, weight_decay, step);
  }
  // Multi-tensor forms (the optimizers' step): the single-tensor updates, one after another.
  template <class T>
  static void adam_update_multi(Context<CPU>& ctx, const AdamItem<T>* items, size_t count, float beta1, float beta2,
                                float eps) {
    for (size_t i = 0; i < count; ++i) {
      const AdamItem<T>& it = items[i];
      adam_update(ctx, it.n, it.w, it.g, it.m, it.v, it.lr, beta1, beta2, eps, it.weight_decay, it.step);
    }
  }
  template <class T>
  static void sgd_update_multi(Context<CPU>& ctx, const SgdItem<T>* items, size_t count, float momentum,
                               bool nesterov) {
    for (size_t i = 0; i < count; ++i) {
      const SgdItem<T>& it = items[i];
      sgd_update(ctx, it.n, it.w, it.g, it.buf, it.lr, momentum, it.weight_decay, nesterov);
    }
  }
  // The sizes of a rank 1..4 shape's axes, then 1s.
  static void dims4(const Shape& s, int64_t d[4]) {
    GRAFT_CHECK(s.rank() >= 1 && s.rank() <= 4, "padding/cropping takes rank 1 to 4, got shape ", s.str());
    for (int i = 0; i < 4; ++i) d[i] = i < s.rank() ? s[i] : 1;
  }
  // Returns the first label outside [0, k), or -1 when all are valid (n labels on the host).
  static int64_t first_bad_label(Context<CPU>&, int64_t n, int64_t k, const int32_t* labels) {
    for (int64_t i = 0; i < n; ++i)
      if (labels[i] < 0 || labels[i] >= k) return i;
    return -1;
  }
};

}  // namespace graft
