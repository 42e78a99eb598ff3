// Batch normalisation and the per-channel affine map on the GPU.
//
// Synchronised batch normalisation (statistics summed over the ranks by the layer between
// the calls) cannot use cuDNN's fused calls, which take no outside statistics: its pieces
// below are graft's per-channel kernels (sums in T, as the fixed-statistics backward's), with
// the per-channel values passing through the context's pinned staging buffer.
//
// Batch normalisation with batch statistics (training forward and backward) and the inference
// forward are cuDNN's (cudnnBatchNormalization*, CUDNN_BATCHNORM_SPATIAL: statistics per
// channel over n, h, w), on NCHW or, in the context's channels-last mode, NHWC descriptors; an
// (n, C) batch is described as (n, C, 1, 1). cuDNN keeps the running variance with the
// unbiased batch variance and uses `exponentialAverageFactor` as PyTorch uses momentum, which
// is what the CPU backend does. The backward with fixed statistics (evaluation mode, Caffe's
// use_global_stats), which cuDNN has not, and the Affine layer are graft's kernels
// (kernels/affine.cuh).
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/context.hpp"
#include "graft/backend/cuda/conv.hpp"  // TensorDesc, CudnnType
#include "graft/backend/geometry.hpp"
#include "graft/core/shape.hpp"
#include "kernels/add.cuh"
#include "kernels/affine.cuh"

namespace graft {
namespace cuda {

// Descriptors of one batch-normalisation call: the activations (x, y, dx, dy share them) and
// the derived per-channel tensor (1, C, 1, 1).
template <class T>
struct BatchNormDescs {
  TensorDesc x, bn;
  BatchNormDescs(Context<CUDA>& ctx, const Shape& s) {
    const ChannelDims d = channel_dims(s);
    const bool nhwc = ctx.channels_last() && s.rank() == 4;
    const int h = s.rank() == 4 ? int(s[2]) : 1, w = s.rank() == 4 ? int(s[3]) : 1;
    GRAFT_CUDA_CHECK_IN(ctx.scope(), cudnnSetTensor4dDescriptor(x.d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                                                CudnnType<T>::value, int(d.n), int(d.c), h, w));
    GRAFT_CUDA_CHECK_IN(ctx.scope(), cudnnDeriveBNTensorDescriptor(bn.d, x.d, CUDNN_BATCHNORM_SPATIAL));
  }
};

template <class T>
void batch_norm_forward_training(Context<CUDA>& ctx, const Shape& s, const T* x, const T* gamma, const T* beta,
                                 double eps, double momentum, T* running_mean, T* running_var, T* save_mean,
                                 T* save_invstd, T* y) {
  GRAFT_CHECK(eps >= CUDNN_BN_MIN_EPSILON, ctx.scope(), ": cuDNN needs eps >= ", CUDNN_BN_MIN_EPSILON, ", got ", eps);
  BatchNormDescs<T> d(ctx, s);
  const T one = 1, zero = 0;
  GRAFT_CUDA_CHECK_IN(ctx.scope(),
                      cudnnBatchNormalizationForwardTraining(ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x.d,
                                                             x, d.x.d, y, d.bn.d, gamma, beta, momentum,
                                                             running_mean, running_var, eps, save_mean,
                                                             save_invstd));
}

template <class T>
void batch_norm_forward_inference(Context<CUDA>& ctx, const Shape& s, const T* x, const T* gamma, const T* beta,
                                  const T* mean, const T* var, double eps, T* y) {
  GRAFT_CHECK(eps >= CUDNN_BN_MIN_EPSILON, ctx.scope(), ": cuDNN needs eps >= ", CUDNN_BN_MIN_EPSILON, ", got ", eps);
  BatchNormDescs<T> d(ctx, s);
  const T one = 1, zero = 0;
  GRAFT_CUDA_CHECK_IN(ctx.scope(),
                      cudnnBatchNormalizationForwardInference(ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                              d.x.d, x, d.x.d, y, d.bn.d, gamma, beta, mean, var,
                                                              eps));
}

// cuDNN writes all three gradients; a null one goes to the context's scratch. `eps` must be
// the forward's (cuDNN's rule; the saved 1/sqrt(var + eps) already holds it).
template <class T>
void batch_norm_backward(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const T* gamma,
                         const T* save_mean, const T* save_invstd, double eps, T* dx, T* dgamma, T* dbeta) {
  const ChannelDims cd = channel_dims(s);
  const size_t need = size_t(dx ? 0 : s.numel()) + size_t(dgamma ? 0 : cd.c) + size_t(dbeta ? 0 : cd.c);
  T* spare = need ? ctx.scratch<T>(need) : nullptr;
  if (!dx) { dx = spare; spare += s.numel(); }
  if (!dgamma) { dgamma = spare; spare += cd.c; }
  if (!dbeta) dbeta = spare;
  BatchNormDescs<T> d(ctx, s);
  const T one = 1, zero = 0;
  GRAFT_CUDA_CHECK_IN(ctx.scope(),
                      cudnnBatchNormalizationBackward(ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero,
                                                      d.x.d, x, d.x.d, dy, d.x.d, dx, d.bn.d, gamma, dgamma, dbeta,
                                                      eps, save_mean, save_invstd));
}

// Fixed statistics: dx = dy * gamma / sqrt(var + eps) (an affine map of dy), dgamma = sum dy *
// xhat with xhat = x * invstd - mean * invstd (channel sums with a = invstd, b = -mean * invstd,
// both from batch_norm_fold with gamma 1 and beta 0), dbeta = sum dy. Scratch: 3 C values.
template <class T>
void batch_norm_backward_global_stats(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const T* gamma,
                                      const T* mean, const T* var, double eps, T* dx, T* dgamma, T* dbeta) {
  const ChannelDims d = channel_dims(s);
  const bool nhwc = ctx.channels_last() && s.rank() == 4;
  T* w = ctx.scratch<T>(size_t(4 * d.c));
  T *scale = w, *unused = w + d.c, *a = w + 2 * d.c, *b = w + 3 * d.c;
  in_scope(ctx.scope(), [&] {
    if (dgamma || dbeta) {
      kernels::batch_norm_fold<T>(d.c, nullptr, nullptr, mean, var, eps, a, b, ctx.stream());
      kernels::channel_sums<T>(d.n, d.c, d.p, nhwc, x, dy, a, b, dgamma, dbeta, ctx.stream());
    }
    if (dx) {
      kernels::batch_norm_fold<T>(d.c, gamma, nullptr, mean, var, eps, scale, unused, ctx.stream());
      kernels::affine<T>(d.n, d.c, d.p, nhwc, dy, scale, nullptr, dx, ctx.stream());
    }
  });
}

// ---- synchronised batch normalisation: the local pieces (the CPU backend's semantics) ----

// Host doubles -> T on the device, c values per array, one array after another. Waits for the
// copy, so that the staging buffer is free again when this returns.
template <class T>
void upload_channels(Context<CUDA>& ctx, int64_t c, std::initializer_list<const double*> arrays, T* dev) {
  T* host = static_cast<T*>(ctx.host_staging(arrays.size() * size_t(c) * sizeof(T)));
  size_t at = 0;
  for (const double* a : arrays)
    for (int64_t k = 0; k < c; ++k) host[at++] = T(a[k]);
  GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemcpyAsync(dev, host, at * sizeof(T), cudaMemcpyHostToDevice, ctx.stream()));
  ctx.synchronize();
}
// c values per array of T on the device -> host doubles (a null array is skipped); waits.
template <class T>
void download_channels(Context<CUDA>& ctx, int64_t c, const T* dev, std::initializer_list<double*> arrays) {
  T* host = static_cast<T*>(ctx.host_staging(arrays.size() * size_t(c) * sizeof(T)));
  GRAFT_CUDA_CHECK_IN(ctx.scope(), cudaMemcpyAsync(host, dev, arrays.size() * size_t(c) * sizeof(T),
                                                   cudaMemcpyDeviceToHost, ctx.stream()));
  ctx.synchronize();
  size_t at = 0;
  for (double* a : arrays) {
    for (int64_t k = 0; k < c; ++k) if (a) a[k] = double(host[at + size_t(k)]);
    at += size_t(c);
  }
}

// sum[c] = sum (x - shift[c]), sq[c] = sum (x - shift[c])^2 (shift null: 0; sq null: skipped).
// With a shift, x - shift is written to scratch first, so that the squares are of the
// differences (no cancellation of a large mean in T).
template <class T>
void channel_moments(Context<CUDA>& ctx, const Shape& s, const T* x, const double* shift, double* sum, double* sq) {
  const ChannelDims d = channel_dims(s);
  const bool nhwc = ctx.channels_last() && s.rank() == 4;
  T* w = ctx.scratch<T>(size_t(4 * d.c) + size_t(shift ? s.numel() : 0));
  T *ts = w, *tq = w + d.c, *coef = w + 2 * d.c, *diff = w + 4 * d.c;
  const T* v = x;
  if (shift) {
    std::vector<double> ones(size_t(d.c), 1.0), neg(size_t(d.c));
    for (int64_t k = 0; k < d.c; ++k) neg[size_t(k)] = -shift[k];
    upload_channels<T>(ctx, d.c, {ones.data(), neg.data()}, coef);
    in_scope(ctx.scope(), [&] { kernels::affine<T>(d.n, d.c, d.p, nhwc, x, coef, coef + d.c, diff, ctx.stream()); });
    v = diff;
  }
  in_scope(ctx.scope(), [&] {
    kernels::channel_sums<T>(d.n, d.c, d.p, nhwc, v, v, nullptr, nullptr, sq ? tq : nullptr, ts, ctx.stream());
  });
  download_channels<T>(ctx, d.c, ts, {sum, sq});
}

// sg[c] = sum dy, sgx[c] = sum dy * (x - mean[c]) * invstd[c].
template <class T>
void batch_norm_grad_sums(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const double* mean,
                          const double* invstd, double* sg, double* sgx) {
  const ChannelDims d = channel_dims(s);
  const bool nhwc = ctx.channels_last() && s.rank() == 4;
  T* w = ctx.scratch<T>(size_t(4 * d.c));
  std::vector<double> b(size_t(d.c));
  for (int64_t k = 0; k < d.c; ++k) b[size_t(k)] = -mean[k] * invstd[k];
  upload_channels<T>(ctx, d.c, {invstd, b.data()}, w);
  in_scope(ctx.scope(), [&] {
    kernels::channel_sums<T>(d.n, d.c, d.p, nhwc, x, dy, w, w + d.c, w + 3 * d.c, w + 2 * d.c, ctx.stream());
  });
  download_channels<T>(ctx, d.c, w + 2 * d.c, {sg, sgx});
}

// dx = a[c] * dy + b[c] * (x - mean[c]) + k[c], in four passes of graft's kernels:
// dx = x - mean; scratch = b * dx + k; dx = a * dy; dx += scratch.
template <class T>
void batch_norm_backward_apply(Context<CUDA>& ctx, const Shape& s, const T* x, const T* dy, const double* mean,
                               const double* a, const double* b, const double* k, T* dx) {
  const ChannelDims d = channel_dims(s);
  const bool nhwc = ctx.channels_last() && s.rank() == 4;
  T* w = ctx.scratch<T>(size_t(5 * d.c) + size_t(s.numel()));
  std::vector<double> ones(size_t(d.c), 1.0), neg(size_t(d.c));
  for (int64_t q = 0; q < d.c; ++q) neg[size_t(q)] = -mean[q];
  upload_channels<T>(ctx, d.c, {ones.data(), neg.data(), b, k, a}, w);
  const T *one = w, *negm = w + d.c, *bb = w + 2 * d.c, *kk = w + 3 * d.c, *aa = w + 4 * d.c;
  T* part = w + 5 * d.c;
  in_scope(ctx.scope(), [&] {
    kernels::affine<T>(d.n, d.c, d.p, nhwc, x, one, negm, dx, ctx.stream());
    kernels::affine<T>(d.n, d.c, d.p, nhwc, dx, bb, kk, part, ctx.stream());
    kernels::affine<T>(d.n, d.c, d.p, nhwc, dy, aa, nullptr, dx, ctx.stream());
    kernels::accumulate<T>(s.numel(), part, dx, ctx.stream());
  });
}

}  // namespace cuda
}  // namespace graft
