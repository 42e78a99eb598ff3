// Backend<CUDA>: what the layers call on the GPU; the same operations as Backend<CPU>
// (backend/cpu/backend.hpp), on device pointers, queued on the context's stream.
//
// Convolution and pooling are per-layer plans (conv.hpp, pool.hpp); fully connected layers
// go through cuBLAS (linear.hpp); the rest are graft's kernels (kernels/*.cuh). Calls return
// once the work is queued, except the two that must read the device: softmax_xent_forward
// (the loss) and first_bad_label (the labels), which wait for the stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/context.hpp"
#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/linear.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/cuda/norm.hpp"
#include "graft/backend/cuda/pool.hpp"
#include "graft/core/shape.hpp"
#include "kernels/activation.cuh"
#include "kernels/add.cuh"
#include "kernels/affine.cuh"
#include "kernels/dropout.cuh"
#include "kernels/layout.cuh"
#include "kernels/optim.cuh"
#include "kernels/relu.cuh"
#include "kernels/softmax.cuh"

namespace graft {

template <>
struct Backend<CUDA> {
  template <class T>
  using ConvPlan = cuda::ConvPlan<T>;
  template <class T>
  using PoolPlan = cuda::PoolPlan<T>;

  // dst = src (n elements on the device), on the context's stream.
  template <class T>
  static void copy(Context<CUDA>& ctx, int64_t n, const T* src, T* dst) {
    if (n > 0 && src != dst)
      GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemcpyAsync(dst, src, size_t(n) * sizeof(T), cudaMemcpyDeviceToDevice,
                                                       ctx.stream()));
  }
  // Channels-last mode (Context<CUDA>::set_channels_last): whether a tensor of logical shape s
  // is stored NHWC (4-D tensors in that mode), and the conversions between the logical NCHW
  // order and the stored one (plain copies when they are the same). Used by nn::Network at
  // its edges, by Flatten and by Linear on a 4-D input. src != dst.
  static bool stored_nhwc(const Context<CUDA>& ctx, const Shape& s) { return ctx.channels_last() && s.rank() == 4; }
  template <class T>
  static void to_stored(Context<CUDA>& ctx, const Shape& s, const T* src, T* dst) {
    if (!stored_nhwc(ctx, s)) return copy(ctx, s.numel(), src, dst);
    cuda::in_scope(ctx.scope(), [&] { kernels::nchw_to_nhwc<T>(s[0], s[1], s[2] * s[3], src, dst, ctx.stream()); });
  }
  template <class T>
  static void to_logical(Context<CUDA>& ctx, const Shape& s, const T* src, T* dst) {
    if (!stored_nhwc(ctx, s)) return copy(ctx, s.numel(), src, dst);
    cuda::in_scope(ctx.scope(), [&] { kernels::nhwc_to_nchw<T>(s[0], s[1], s[2] * s[3], src, dst, ctx.stream()); });
  }

  template <class T>
  static void relu_forward(Context<CUDA>& ctx, int64_t n, const T* x, T* y) {
    cuda::in_scope(ctx.scope(), [&] { kernels::relu_forward<T>(n, x, y, ctx.stream()); });
  }
  template <class T>
  static void relu_backward(Context<CUDA>& ctx, int64_t n, const T* y, const T* dy, T* dx) {
    cuda::in_scope(ctx.scope(), [&] { kernels::relu_backward<T>(n, y, dy, dx, ctx.stream()); });
  }
  // LeakyRelu, PRelu and the channel Softmax: Backend<CPU>'s contracts; a 4-D tensor is NHWC
  // in channels-last mode (kernels/activation.cuh, kernels/softmax.cuh).
  template <class T>
  static void leaky_relu_forward(Context<CUDA>& ctx, int64_t n, T alpha, const T* x, T* y) {
    cuda::in_scope(ctx.scope(), [&] { kernels::leaky_relu_forward<T>(n, alpha, x, y, ctx.stream()); });
  }
  template <class T>
  static void leaky_relu_backward(Context<CUDA>& ctx, int64_t n, T alpha, const T* x, const T* dy, T* dx) {
    cuda::in_scope(ctx.scope(), [&] { kernels::leaky_relu_backward<T>(n, alpha, x, dy, dx, ctx.stream()); });
  }
  template <class T>
  static void prelu_forward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* slope, bool shared, T* y) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::prelu_forward<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), shared, x, slope, y, ctx.stream());
    });
  }
  template <class T>
  static void prelu_backward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const T* slope, bool shared,
                             T* dx, T* dslope) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::prelu_backward<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), shared, x, dy, slope, dx, dslope, ctx.stream());
    });
  }
  template <class T>
  static void softmax_forward(Context<CUDA>& ctx, const Shape& s, const T* x, T* y) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::softmax_channels_forward<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), x, y, ctx.stream());
    });
  }
  template <class T>
  static void softmax_backward(Context<CUDA>& ctx, const Shape& s, const T* y, const T* dy, T* dx) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::softmax_channels_backward<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), y, dy, dx, ctx.stream());
    });
  }
  // dst += src, n elements.
  template <class T>
  static void accumulate(Context<CUDA>& ctx, int64_t n, const T* src, T* dst) {
    cuda::in_scope(ctx.scope(), [&] { kernels::accumulate<T>(n, src, dst, ctx.stream()); });
  }
  // y = a + b, and y = max(a + b, 0) (Add, AddReLU), n elements.
  template <class T>
  static void add(Context<CUDA>& ctx, int64_t n, const T* a, const T* b, T* y) {
    cuda::in_scope(ctx.scope(), [&] { kernels::add<T>(n, a, b, y, ctx.stream()); });
  }
  template <class T>
  static void add_relu(Context<CUDA>& ctx, int64_t n, const T* a, const T* b, T* y) {
    cuda::in_scope(ctx.scope(), [&] { kernels::add_relu<T>(n, a, b, y, ctx.stream()); });
  }
  // Zero padding anchored at index 0 (Add with zero_pad), for tensors of rank 1 to 4 whose
  // logical shapes `small` <= `big` on every axis; in channels-last mode 4-D tensors are
  // padded in their stored NHWC order (channel padding innermost).
  //   pad_add: dst (big) = (accumulate ? dst : 0) + src (small) zero-padded
  //   crop:    dst (small) = src (big) cut to the small sizes
  template <class T>
  static void pad_add(Context<CUDA>& ctx, const Shape& small, const T* src, const Shape& big, T* dst,
                      bool accumulate) {
    const kernels::Dims4 s = stored_dims(ctx, small), b = stored_dims(ctx, big);
    cuda::in_scope(ctx.scope(), [&] { kernels::pad_add<T>(s, src, b, dst, accumulate, ctx.stream()); });
  }
  template <class T>
  static void crop(Context<CUDA>& ctx, const Shape& big, const T* src, const Shape& small, T* dst) {
    const kernels::Dims4 s = stored_dims(ctx, small), b = stored_dims(ctx, big);
    cuda::in_scope(ctx.scope(), [&] { kernels::crop<T>(b, src, s, dst, ctx.stream()); });
  }
  // The axes of a rank 1..4 tensor as stored (N, H, W, C for a channels-last 4-D tensor).
  static kernels::Dims4 stored_dims(const Context<CUDA>& ctx, const Shape& s) {
    GRAFT_CHECK(s.rank() >= 1 && s.rank() <= 4, "padding/cropping takes rank 1 to 4, got shape ", s.str());
    kernels::Dims4 d;
    for (int i = 0; i < s.rank(); ++i) d.d[i] = s[i];
    if (stored_nhwc(ctx, s)) {
      d.d[1] = s[2];
      d.d[2] = s[3];
      d.d[3] = s[1];
    }
    return d;
  }
  template <class T>
  static void dropout_apply(Context<CUDA>& ctx, int64_t n, const T* in, T* out, float p, uint64_t stream) {
    const T scale = p < 1.0f ? T(1) / (T(1) - T(p)) : T(0);  // exactly the CPU's
    cuda::in_scope(ctx.scope(), [&] { kernels::dropout<T>(n, in, out, p, scale, stream, ctx.stream()); });
  }
  template <class T>
  static void dropout_relu_apply(Context<CUDA>& ctx, int64_t n, const T* in, T* out, float p, uint64_t stream) {
    const T scale = p < 1.0f ? T(1) / (T(1) - T(p)) : T(0);
    cuda::in_scope(ctx.scope(), [&] { kernels::dropout_relu<T>(n, in, out, p, scale, stream, ctx.stream()); });
  }
  template <class T>
  static void linear_forward(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* w,
                             const T* b, T* y) {
    cuda::linear_forward<T>(ctx, n, in, out, x, w, b, y);
  }
  template <class T>
  static void linear_backward_data(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* dy, const T* w,
                                   T* dx) {
    cuda::linear_backward_data<T>(ctx, n, in, out, dy, w, dx);
  }
  template <class T>
  static void linear_backward_params(Context<CUDA>& ctx, int64_t n, int64_t in, int64_t out, const T* x, const T* dy,
                                     T* dw, T* db) {
    cuda::linear_backward_params<T>(ctx, n, in, out, x, dy, dw, db);
  }

  // ---- per-channel layers (Affine, BatchNorm2d) on a logical shape s of rank 2 or 4 ----
  // The same contracts as Backend<CPU>'s; a 4-D tensor is NHWC in channels-last mode. Batch
  // normalisation is cuDNN's, the affine maps and the fixed-statistics backward graft's kernels
  // (backend/cuda/norm.hpp).
  template <class T>
  static void affine_forward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* scale, const T* offset, T* y) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::affine<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), x, scale, offset, y, ctx.stream());
    });
  }
  template <class T>
  static void affine_relu_forward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* scale, const T* offset,
                                  T* y) {
    const ChannelDims d = channel_dims(s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::affine_relu<T>(d.n, d.c, d.p, stored_nhwc(ctx, s), x, scale, offset, y, ctx.stream());
    });
  }
  template <class T>
  static void affine_backward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const T* scale, T* dx,
                              T* dscale, T* doffset) {
    const ChannelDims d = channel_dims(s);
    const bool nhwc = stored_nhwc(ctx, s);
    cuda::in_scope(ctx.scope(), [&] {
      kernels::channel_sums<T>(d.n, d.c, d.p, nhwc, x, dy, nullptr, nullptr, dscale, doffset, ctx.stream());
      if (dx) kernels::affine<T>(d.n, d.c, d.p, nhwc, dy, scale, nullptr, dx, ctx.stream());
    });
  }
  template <class T>
  static void batch_norm_fold(Context<CUDA>& ctx, int64_t c, const T* gamma, const T* beta, const T* mean,
                              const T* var, double eps, T* scale, T* offset) {
    cuda::in_scope(ctx.scope(), [&] {
      kernels::batch_norm_fold<T>(c, gamma, beta, mean, var, eps, scale, offset, ctx.stream());
    });
  }
  template <class T>
  static void batch_norm_forward_training(Context<CUDA>& ctx, const Shape& s, const T* x, const T* gamma,
                                          const T* beta, double eps, double momentum, T* running_mean,
                                          T* running_var, T* save_mean, T* save_invstd, T* y) {
    cuda::batch_norm_forward_training<T>(ctx, s, x, gamma, beta, eps, momentum, running_mean, running_var, save_mean,
                                         save_invstd, y);
  }
  template <class T>
  static void batch_norm_forward_inference(Context<CUDA>& ctx, const Shape& s, const T* x, const T* gamma,
                                           const T* beta, const T* mean, const T* var, double eps, T* y) {
    cuda::batch_norm_forward_inference<T>(ctx, s, x, gamma, beta, mean, var, eps, y);
  }
  template <class T>
  static void batch_norm_backward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const T* gamma,
                                  const T* save_mean, const T* save_invstd, double eps, T* dx, T* dgamma,
                                  T* dbeta) {
    cuda::batch_norm_backward<T>(ctx, s, x, dy, gamma, save_mean, save_invstd, eps, dx, dgamma, dbeta);
  }
  template <class T>
  static void batch_norm_backward_global_stats(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy,
                                               const T* gamma, const T* mean, const T* var, double eps, T* dx,
                                               T* dgamma, T* dbeta) {
    cuda::batch_norm_backward_global_stats<T>(ctx, s, x, dy, gamma, mean, var, eps, dx, dgamma, dbeta);
  }

  // Synchronised batch normalisation's local pieces (backend/cuda/norm.hpp; the CPU
  // backend's semantics, per-channel doubles on the host).
  template <class T>
  static void channel_moments(Context<CUDA>& ctx, const Shape& s, const T* x, const double* shift, double* sum,
                              double* sq) {
    cuda::channel_moments<T>(ctx, s, x, shift, sum, sq);
  }
  template <class T>
  static void batch_norm_grad_sums(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const double* mean,
                                   const double* invstd, double* sg, double* sgx) {
    cuda::batch_norm_grad_sums<T>(ctx, s, x, dy, mean, invstd, sg, sgx);
  }
  template <class T>
  static void batch_norm_backward_apply(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy,
                                        const double* mean, const double* a, const double* b, const double* k,
                                        T* dx) {
    cuda::batch_norm_backward_apply<T>(ctx, s, x, dy, mean, a, b, k, dx);
  }

  // probs = softmax(logits); returns the mean cross-entropy (0 without labels). Waits for the
  // stream to read the n row losses back, and adds them in double on the host.
  template <class T>
  static double softmax_xent_forward(Context<CUDA>& ctx, int64_t n, int64_t k, const T* logits,
                                     const int32_t* labels, T* probs) {
    if (n <= 0) return 0.0;
    T* rows = labels ? ctx.loss_scratch<T>(size_t(n)) : nullptr;
    if (ctx.softmax_impl() == cuda::SoftmaxImpl::Graft) {
      cuda::in_scope(ctx.scope(), [&] {
        kernels::softmax_xent_forward<T>(n, k, logits, labels, probs, rows, ctx.stream());
      });
    } else {
      cuda::TensorDesc d;
      GRAFT_CUDA_CHECK_IN(ctx.scope(), cudnnSetTensor4dDescriptor(d.d, CUDNN_TENSOR_NCHW, cuda::CudnnType<T>::value,
                                                                  int(n), int(k), 1, 1));
      const T one = 1, zero = 0;
      GRAFT_CUDA_CHECK_IN(ctx.scope(), cudnnSoftmaxForward(ctx.cudnn(), CUDNN_SOFTMAX_ACCURATE,
                                                           CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.d, logits, &zero,
                                                           d.d, probs));
      if (labels)
        cuda::in_scope(ctx.scope(), [&] { kernels::xent_from_probs<T>(n, k, probs, labels, rows, ctx.stream()); });
    }
    if (!labels) return 0.0;
    T* host = static_cast<T*>(ctx.host_staging(size_t(n) * sizeof(T)));
    GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemcpyAsync(host, rows, size_t(n) * sizeof(T), cudaMemcpyDeviceToHost,
                                                     ctx.stream()));
    ctx.synchronize();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += double(host[i]);
    return total / double(n);
  }
  template <class T>
  static void softmax_xent_backward(Context<CUDA>& ctx, int64_t n, int64_t k, const T* probs, const int32_t* labels,
                                    T scale, T* dlogits) {
    if (n <= 0) return;
    cuda::in_scope(ctx.scope(), [&] {
      kernels::softmax_xent_backward<T>(n, k, probs, labels, scale / T(n), dlogits, ctx.stream());
    });
  }

  template <class T>
  static void sgd_update(Context<CUDA>& ctx, int64_t n, T* w, const T* g, T* buf, float lr, float momentum,
                         float weight_decay, bool nesterov) {
    cuda::in_scope(ctx.scope(), [&] {
      kernels::sgd_update<T>(n, w, g, buf, lr, momentum, weight_decay, nesterov, ctx.stream());
    });
  }
  template <class T>
  static void adam_update(Context<CUDA>& ctx, int64_t n, T* w, const T* g, T* m, T* v, float lr, float beta1,
                          float beta2, float eps, float weight_decay, int64_t step) {
    cuda::in_scope(ctx.scope(), [&] {
      kernels::adam_update<T>(n, w, g, m, v, lr, beta1, beta2, eps, weight_decay, step, ctx.stream());
    });
  }

  // Multi-tensor forms (the optimizers' step): one launch per kernels::kMultiTensors tensors.
  template <class T>
  static void adam_update_multi(Context<CUDA>& ctx, const AdamItem<T>* items, size_t count, float beta1,
                                float beta2, float eps) {
    cuda::in_scope(ctx.scope(), [&] { kernels::adam_update_multi<T>(items, count, beta1, beta2, eps, ctx.stream()); });
  }
  template <class T>
  static void sgd_update_multi(Context<CUDA>& ctx, const SgdItem<T>* items, size_t count, float momentum,
                               bool nesterov) {
    cuda::in_scope(ctx.scope(), [&] { kernels::sgd_update_multi<T>(items, count, momentum, nesterov, ctx.stream()); });
  }

  // The first label outside [0, k), or -1 (labels on the device: read back, waiting for the stream).
  static int64_t first_bad_label(Context<CUDA>& ctx, int64_t n, int64_t k, const int32_t* labels) {
    if (n <= 0) return -1;
    int32_t* host = static_cast<int32_t*>(ctx.host_staging(size_t(n) * sizeof(int32_t)));
    GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemcpyAsync(host, labels, size_t(n) * sizeof(int32_t),
                                                     cudaMemcpyDeviceToHost, ctx.stream()));
    ctx.synchronize();
    for (int64_t i = 0; i < n; ++i)
      if (host[i] < 0 || host[i] >= k) return i;
    return -1;
  }
};

}  // namespace graft
