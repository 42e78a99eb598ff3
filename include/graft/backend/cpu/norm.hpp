// Per-channel operations on the host: the affine map y = x * scale[c] + offset[c] and batch
// normalisation (statistics, normalisation, backward). Tensors are (n, c, p): n images, c
// channels, p values per channel and image (h*w for NCHW, 1 for an (n, c) batch).
//
// Sums run in double whatever T is, so that a float batch of millions of values per channel
// keeps its mean and variance to float precision. Loops over channels are OpenMP loops (each
// thread owns whole channels, so no reduction crosses threads and the result does not depend
// on the thread count); loops that write activations go over (image, channel) planes.
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/backend/cpu/parallel.hpp"

namespace graft {
namespace cpu {

// Row sums for the per-channel reductions, in double with 8 independent accumulators: one
// accumulator is a chain of dependent adds (a few cycles each), eight let the compiler keep
// several vector lanes busy, which is what makes batch normalisation cheap next to the
// convolutions of a ResNet.
//   sum_shift: sum (x - shift), and sum (x - shift)^2 when sq is not null.
template <class T>
inline void row_moments(const T* x, int64_t p, double shift, double& sum, double* sq) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t q = 0;
  for (; q + 8 <= p; q += 8)
    for (int j = 0; j < 8; ++j) {
      const double d = double(x[q + j]) - shift;
      a[j] += d;
      b[j] += d * d;
    }
  double s = 0, s2 = 0;
  for (; q < p; ++q) {
    const double d = double(x[q]) - shift;
    s += d;
    s2 += d * d;
  }
  for (int j = 0; j < 8; ++j) {
    s += a[j];
    s2 += b[j];
  }
  sum += s;
  if (sq) *sq += s2;
}
//   sum g and sum g * (x * a + b).
template <class T>
inline void row_grad_sums(const T* x, const T* g, int64_t p, double a, double b, double& sg, double& sgx) {
  double u[8] = {0, 0, 0, 0, 0, 0, 0, 0}, v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t q = 0;
  for (; q + 8 <= p; q += 8)
    for (int j = 0; j < 8; ++j) {
      const double gg = double(g[q + j]);
      u[j] += gg;
      v[j] += gg * (double(x[q + j]) * a + b);
    }
  double s = 0, s2 = 0;
  for (; q < p; ++q) {
    const double gg = double(g[q]);
    s += gg;
    s2 += gg * (double(x[q]) * a + b);
  }
  for (int j = 0; j < 8; ++j) {
    s += u[j];
    s2 += v[j];
  }
  sg += s;
  sgx += s2;
}

// y = x * scale[c] + (offset ? offset[c] : 0), then max(., 0) when relu. y may equal x.
template <class T>
void affine_forward(int64_t n, int64_t c, int64_t p, const T* x, const T* scale, const T* offset, T* y,
                    bool relu = false) {
  const int64_t planes = n * c;
#pragma omp parallel for schedule(static) if (planes * p >= kParallelMin)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t ch = pl % c;
    const T s = scale[ch], o = offset ? offset[ch] : T(0);
    const T* xr = x + pl * p;
    T* yr = y + pl * p;
    for (int64_t q = 0; q < p; ++q) {
      const T v = xr[q] * s + o;
      yr[q] = relu ? (v > T(0) ? v : T(0)) : v;
    }
  }
}

// Per channel: sxy[c] = sum dy * (x * a[c] + b[c]) (a, b null: sum dy * x) and sy[c] = sum dy.
// Either output may be null.
template <class T>
void channel_sums(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const T* a, const T* b, T* sxy,
                  T* sy) {
  if (!sxy && !sy) return;
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double aa = a ? double(a[ch]) : 1.0, bb = b ? double(b[ch]) : 0.0;
    double s1 = 0, s0 = 0;
    for (int64_t i = 0; i < n; ++i) row_grad_sums(x + (i * c + ch) * p, dy + (i * c + ch) * p, p, aa, bb, s0, s1);
    if (sxy) sxy[ch] = T(s1);
    if (sy) sy[ch] = T(s0);
  }
}

// Affine backward: dx = dy * scale[c]; dscale[c] = sum dy * x; doffset[c] = sum dy. Null
// outputs are not computed.
template <class T>
void affine_backward(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const T* scale, T* dx, T* dscale,
                     T* doffset) {
  channel_sums(n, c, p, x, dy, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), dscale, doffset);
  if (dx) affine_forward(n, c, p, dy, scale, static_cast<const T*>(nullptr), dx);
}

// The affine map equal to batch normalisation with fixed statistics:
// scale = gamma / sqrt(var + eps), offset = beta - mean * scale (gamma null: 1, beta null: 0).
template <class T>
void batch_norm_fold(int64_t c, const T* gamma, const T* beta, const T* mean, const T* var, double eps, T* scale,
                     T* offset) {
  for (int64_t ch = 0; ch < c; ++ch) {
    const double s = (gamma ? double(gamma[ch]) : 1.0) / std::sqrt(double(var[ch]) + eps);
    scale[ch] = T(s);
    offset[ch] = T((beta ? double(beta[ch]) : 0.0) - double(mean[ch]) * s);
  }
}

// Training forward: batch mean and biased variance per channel (two passes, in double),
// save_mean/save_invstd = mean, 1/sqrt(var + eps) (for backward), y normalised with them, and
// the running averages updated as torch.nn.BatchNorm2d does:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)   (unbiased)
// with m = n * p values per channel (m > 1: the caller checks).
template <class T>
void batch_norm_forward_training(int64_t n, int64_t c, int64_t p, const T* x, const T* gamma, const T* beta,
                                 double eps, double momentum, T* running_mean, T* running_var, T* save_mean,
                                 T* save_invstd, T* y) {
  const double m = double(n * p);
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) row_moments(x + (i * c + ch) * p, p, 0.0, sum, nullptr);
    const double mean = sum / m;
    double dsum = 0, ss = 0;  // second pass about the mean: no cancellation of a large mean
    for (int64_t i = 0; i < n; ++i) row_moments(x + (i * c + ch) * p, p, mean, dsum, &ss);
    const double var = ss / m, invstd = 1.0 / std::sqrt(var + eps);
    const double s = double(gamma[ch]) * invstd, o = double(beta[ch]) - mean * s;
    const T st = T(s), ot = T(o);  // the map itself in T: a vector multiply-add per element
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = x + (i * c + ch) * p;
      T* yr = y + (i * c + ch) * p;
      for (int64_t q = 0; q < p; ++q) yr[q] = xr[q] * st + ot;
    }
    save_mean[ch] = T(mean);
    save_invstd[ch] = T(invstd);
    const double unbiased = m > 1 ? ss / (m - 1) : var;
    running_mean[ch] = T((1.0 - momentum) * double(running_mean[ch]) + momentum * mean);
    running_var[ch] = T((1.0 - momentum) * double(running_var[ch]) + momentum * unbiased);
  }
}

// Training backward, through the batch statistics. With xhat = (x - mean) * invstd and
// m = n * p:  dbeta = sum dy,  dgamma = sum dy * xhat,
//             dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
// Any output may be null (dx needs both sums, which are then computed anyway).
template <class T>
void batch_norm_backward(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const T* gamma,
                         const T* save_mean, const T* save_invstd, T* dx, T* dgamma, T* dbeta) {
  const double m = double(n * p);
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = double(save_mean[ch]), invstd = double(save_invstd[ch]);
    double sg = 0, sgx = 0;
    for (int64_t i = 0; i < n; ++i)
      row_grad_sums(x + (i * c + ch) * p, dy + (i * c + ch) * p, p, invstd, -mean * invstd, sg, sgx);
    if (dbeta) dbeta[ch] = T(sg);
    if (dgamma) dgamma[ch] = T(sgx);
    if (!dx) continue;
    // dx = k * (m * dy - sg - xhat * sgx) = A * dy + B * (x - mean) + C, in T per element
    // (x - mean kept as a difference: a large mean does not cancel against C).
    const double k = double(gamma[ch]) * invstd / m;
    const T A = T(k * m), B = T(-k * sgx * invstd), C = T(-k * sg), mt = T(mean);
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = x + (i * c + ch) * p;
      const T* gr = dy + (i * c + ch) * p;
      T* dr = dx + (i * c + ch) * p;
      for (int64_t q = 0; q < p; ++q) dr[q] = A * gr[q] + B * (xr[q] - mt) + C;
    }
  }
}

// ---- synchronised batch normalisation: the local pieces ----
// The layer (layers/batch_norm2d.hpp) sums these over the ranks between the calls, so each
// returns per-channel doubles on the host rather than finishing the normalisation itself.

// sum[c] = sum (x - shift[c]) and, when sq is not null, sq[c] = sum (x - shift[c])^2, over
// the n images and p positions (shift null: 0). Shifting by the global mean in a second
// round keeps a large mean from cancelling in the variance.
template <class T>
void channel_moments(int64_t n, int64_t c, int64_t p, const T* x, const double* shift, double* sum, double* sq) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0, s2 = 0;
    const double sh = shift ? shift[ch] : 0.0;
    for (int64_t i = 0; i < n; ++i) row_moments(x + (i * c + ch) * p, p, sh, s, sq ? &s2 : nullptr);
    sum[ch] = s;
    if (sq) sq[ch] = s2;
  }
}

// sg[c] = sum dy and sgx[c] = sum dy * xhat, xhat = (x - mean[c]) * invstd[c].
template <class T>
void batch_norm_grad_sums(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const double* mean,
                          const double* invstd, double* sg, double* sgx) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < n; ++i)
      row_grad_sums(x + (i * c + ch) * p, dy + (i * c + ch) * p, p, invstd[ch], -mean[ch] * invstd[ch], a, b);
    sg[ch] = a;
    sgx[ch] = b;
  }
}

// dx = a[c] * dy + b[c] * (x - mean[c]) + k[c], in T per element as batch_norm_backward's.
template <class T>
void batch_norm_backward_apply(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const double* mean,
                               const double* a, const double* b, const double* k, T* dx) {
  const int64_t planes = n * c;
#pragma omp parallel for schedule(static) if (planes * p >= kParallelMin)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t ch = pl % c;
    const T A = T(a[ch]), B = T(b[ch]), K = T(k[ch]), mt = T(mean[ch]);
    const T* xr = x + pl * p;
    const T* gr = dy + pl * p;
    T* dr = dx + pl * p;
    for (int64_t q = 0; q < p; ++q) dr[q] = A * gr[q] + B * (xr[q] - mt) + K;
  }
}

// Backward with fixed statistics (evaluation, or Caffe's use_global_stats): the affine
// backward of the folded map. dx = dy * gamma / sqrt(var + eps); dgamma = sum dy * xhat with
// xhat = (x - mean) / sqrt(var + eps); dbeta = sum dy. Null outputs are not computed.
template <class T>
void batch_norm_backward_global_stats(int64_t n, int64_t c, int64_t p, const T* x, const T* dy, const T* gamma,
                                      const T* mean, const T* var, double eps, T* dx, T* dgamma, T* dbeta) {
#pragma omp parallel for schedule(static) if (n * c * p >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double invstd = 1.0 / std::sqrt(double(var[ch]) + eps), mu = double(mean[ch]);
    const double s = double(gamma[ch]) * invstd;
    double sg = 0, sgx = 0;
    const T st = T(s);
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = x + (i * c + ch) * p;
      const T* gr = dy + (i * c + ch) * p;
      if (dgamma || dbeta) row_grad_sums(xr, gr, p, invstd, -mu * invstd, sg, sgx);
      if (dx) {
        T* dr = dx + (i * c + ch) * p;
        for (int64_t q = 0; q < p; ++q) dr[q] = gr[q] * st;
      }
    }
    if (dbeta) dbeta[ch] = T(sg);
    if (dgamma) dgamma[ch] = T(sgx);
  }
}

}  // namespace cpu
}  // namespace graft
