// graft's own 3x3 convolution: an implicit GEMM on the tensor cores (TF32 WMMA), the
// alternative to cuDNN for the VGG shapes (any batch, channels, size, stride and padding of a
// 3x3 kernel; NCHW activations, OIHW weights, float).
//
// Every pass is one tiled matrix product C[M][N] = A[M][R] * B[R][N] whose operands are
// gathered from the tensors while they are loaded into shared memory (no im2col buffer):
//
//   forward          M = out channels   N = batch*oh*ow   R = in channels*9    A = weights, B = im2col(x)
//   backward data    the forward pass on dy with the weights flipped and transposed (stride 1)
//   backward filter  M = out channels   N = in channels*9  R = batch*oh*ow     A = dy, B = im2col(x)^T
//
// A block of 256 threads (8 warps, 2 x 4) computes a BM x BN tile of C over R in steps of 16,
// with two shared-memory stages filled by cp.async (zero-filled outside the tensor and in the
// padding) so that the next step's loads overlap this step's products. Each warp holds
// (BM/2) x (BN/4) accumulators as 16x16 fragments. The backward-filter reduction over the
// batch is split over blockIdx.z into partial sums that a second kernel adds in a fixed order
// (deterministic, no atomics).
//
// Precision: kExact == false rounds both operands to TF32 (10-bit mantissa, like cuDNN and
// cuBLAS with TF32 on); kExact == true splits each operand into a TF32 high part and a TF32
// remainder and adds the three significant products (3xTF32), which is as accurate as FP32
// FMA arithmetic at a third of the tensor-core rate. Accumulation is FP32 either way.
#pragma once

#include <algorithm>
#include <type_traits>

#include "kernels/common.cuh"

#if !defined(GRAFT_KERNEL_EMULATION)
#include <mma.h>
#endif

namespace graft {
namespace kernels {
namespace conv {

namespace wmma = nvcuda::wmma;

// A convolution with a 3x3 kernel: input (n, c, h, w), output (n, o, oh, ow).
struct Shape3x3 {
  int n = 0, c = 0, h = 0, w = 0;
  int o = 0, oh = 0, ow = 0;
  int sh = 1, sw = 1, ph = 1, pw = 1;
};

constexpr int kThreads = 256;
constexpr int kBK = 16;        // reduction depth of one pipeline stage
constexpr int kLdA = kBK + 4;  // padded smem row of the A tile (a multiple of 4 floats keeps
                               // every 16x8 fragment on a 32-byte boundary, as WMMA needs)
constexpr int kLdC = 20;       // padded row of a warp's 16x16 epilogue tile

// Reduction index r = c*9 + kr*3 + ks of the 3x3 window -> offset and tap (constant divisors).
struct Tap {
  int c, kr, ks;
};
__device__ __forceinline__ Tap tap_of(int r) {
  Tap t;
  t.c = r / 9;
  const int rs = r - 9 * t.c;
  t.kr = rs / 3;
  t.ks = rs - 3 * t.kr;
  return t;
}

// ---- the operand gatherers ("problems"): each loads one stage of A and B and stores C ----

// Forward (and backward data): A = weights (M x R row-major), B = im2col(x) (R x N).
template <int BM, int BN>
struct ForwardProblem {
  Shape3x3 s;
  const float* x;  // input (n, c, h, w)
  const float* w;  // weights (o, c, 3, 3) = A, row-major M x R
  const float* b;  // bias (o) or null
  float* y;        // output (n, o, oh, ow)
  int M, N, R;
  bool vec_a;      // R % 4 == 0 and w 16-byte aligned: 16-byte copies of A
  // The column this thread loads in every stage (fixed for the whole block).
  int col_n, ih0, iw0;
  const float* xbase;

  __device__ __forceinline__ void range(int /*z*/, int& r_begin, int& r_end) const {
    r_begin = 0;
    r_end = R;
  }
  __device__ __forceinline__ void prepare(int n0) {
    col_n = n0 + int(threadIdx.x) % BN;
    const int P = s.oh * s.ow;
    const int nb = col_n < N ? col_n / P : 0, pix = col_n < N ? col_n - nb * P : 0;
    const int oh = pix / s.ow, ow = pix - oh * s.ow;
    ih0 = oh * s.sh - s.ph;
    iw0 = ow * s.sw - s.pw;
    xbase = x + int64_t(nb) * s.c * s.h * s.w;
  }
  __device__ __forceinline__ void load_a(float (*As)[kLdA], int m0, int r0, int r_end) const {
    if (vec_a) {
      // BM rows x 4 chunks of 4 floats
#pragma unroll
      for (int i = 0; i < BM * 4 / kThreads; ++i) {
        const int q = int(threadIdx.x) + kThreads * i, row = q / 4, col = (q % 4) * 4;
        const int m = m0 + row, r = r0 + col;
        const bool ok = m < M && r < r_end;
        cp_async16(&As[row][col], ok ? w + int64_t(m) * R + r : w, ok);
      }
    } else {
#pragma unroll
      for (int i = 0; i < BM * kBK / kThreads; ++i) {
        const int q = int(threadIdx.x) + kThreads * i, row = q / kBK, col = q % kBK;
        const int m = m0 + row, r = r0 + col;
        const bool ok = m < M && r < r_end;
        cp_async4(&As[row][col], ok ? w + int64_t(m) * R + r : w, ok);
      }
    }
  }
  __device__ __forceinline__ void load_b(float (*Bs)[BN + 4], int r0, int r_end, int /*n0*/) const {
    constexpr int kRowsPerPass = kThreads / BN;
    const int nl = int(threadIdx.x) % BN, rl0 = int(threadIdx.x) / BN;
#pragma unroll
    for (int i = 0; i < kBK / kRowsPerPass; ++i) {
      const int rl = rl0 + kRowsPerPass * i, r = r0 + rl;
      const Tap t = tap_of(r);
      const int ih = ih0 + t.kr, iw = iw0 + t.ks;
      const bool ok = col_n < N && r < r_end && ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
      cp_async4(&Bs[rl][nl], ok ? xbase + (int64_t(t.c) * s.h + ih) * s.w + iw : x, ok);
    }
  }
  __device__ __forceinline__ void store(int m, int n, float v) const {
    const int P = s.oh * s.ow, nb = n / P, pix = n - nb * P;
    y[(int64_t(nb) * M + m) * P + pix] = b ? v + b[m] : v;
  }
};

// Backward filter: A = dy viewed as M x J (J = batch*oh*ow), B = im2col(x)^T (J x N).
template <int BM, int BN>
struct FilterProblem {
  Shape3x3 s;
  const float* x;   // input (n, c, h, w)
  const float* dy;  // output gradient (n, o, oh, ow)
  float* out;       // dw (o, c, 3, 3) when splits == 1, else partials [splits][o][c*9]
  int M, N, R;      // M = o, N = c*9, R = J
  int chunk;        // reduction length per split (a multiple of kBK)

  __device__ __forceinline__ void range(int z, int& r_begin, int& r_end) const {
    r_begin = z * chunk;
    r_end = min(R, r_begin + chunk);
  }
  __device__ __forceinline__ void prepare(int /*n0*/) {}
  __device__ __forceinline__ void load_a(float (*As)[kLdA], int m0, int r0, int r_end) const {
    const int jl = int(threadIdx.x) % kBK, ml0 = int(threadIdx.x) / kBK;
    const int j = r0 + jl, P = s.oh * s.ow;
    const bool jok = j < r_end;
    const int nb = jok ? j / P : 0, pix = jok ? j - nb * P : 0;
    const float* base = dy + int64_t(nb) * M * P + pix;
#pragma unroll
    for (int i = 0; i < BM / (kThreads / kBK); ++i) {
      const int ml = ml0 + (kThreads / kBK) * i, m = m0 + ml;
      const bool ok = jok && m < M;
      cp_async4(&As[ml][jl], ok ? base + int64_t(m) * P : dy, ok);
    }
  }
  __device__ __forceinline__ void load_b(float (*Bs)[BN + 4], int r0, int r_end, int n0) const {
    const int jl = int(threadIdx.x) % kBK, kl0 = int(threadIdx.x) / kBK;
    const int j = r0 + jl, P = s.oh * s.ow;
    const bool jok = j < r_end;
    const int nb = jok ? j / P : 0, pix = jok ? j - nb * P : 0;
    const int oh = pix / s.ow, ow = pix - oh * s.ow;
    const int ih0 = oh * s.sh - s.ph, iw0 = ow * s.sw - s.pw;
    const float* xbase = x + int64_t(nb) * s.c * s.h * s.w;
#pragma unroll
    for (int i = 0; i < BN / (kThreads / kBK); ++i) {
      const int kl = kl0 + (kThreads / kBK) * i, k = n0 + kl;
      const Tap t = tap_of(k);
      const int ih = ih0 + t.kr, iw = iw0 + t.ks;
      const bool ok = jok && k < N && ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
      cp_async4(&Bs[jl][kl], ok ? xbase + (int64_t(t.c) * s.h + ih) * s.w + iw : x, ok);
    }
  }
  __device__ __forceinline__ void store(int m, int n, float v) const {
    out[int64_t(blockIdx.z) * M * N + int64_t(m) * N + n] = v;
  }
};

// ---- the tiled product ----

template <bool kExact, class FragA, class FragB, class Acc>
__device__ __forceinline__ void mma_tf32(Acc& acc, FragA& a_hi, FragA& a_lo, FragB& b_hi, FragB& b_lo) {
  if (kExact) {
    wmma::mma_sync(acc, a_lo, b_hi, acc);  // the small terms first
    wmma::mma_sync(acc, a_hi, b_lo, acc);
  }
  wmma::mma_sync(acc, a_hi, b_hi, acc);
}

// hi = tf32(v); lo = tf32(v - hi) (only for kExact)
template <bool kExact, class Frag>
__device__ __forceinline__ void split_tf32(Frag& hi, Frag& lo) {
#pragma unroll
  for (int e = 0; e < hi.num_elements; ++e) {
    const float v = hi.x[e];
    const float h = wmma::__float_to_tf32(v);
    hi.x[e] = h;
    if (kExact) lo.x[e] = wmma::__float_to_tf32(v - h);
  }
}

// TF32: at most 128 registers, so that two blocks (16 warps) share a multiprocessor and one
// block's loads overlap the other's products (ptxas, sm_90: 124-128 registers, at most 40
// bytes of spills). 3xTF32 holds twice the operand fragments and runs one block (136-196).
template <class Problem, int BM, int BN, bool kExact>
__global__ void __launch_bounds__(kThreads, kExact ? 1 : 2) gemm_kernel(Problem prob) {
  constexpr int kWarpsM = 2, kWarpsN = 4;
  constexpr int WTM = BM / kWarpsM, WTN = BN / kWarpsN;
  constexpr int FM = WTM / 16, FN = WTN / 16;
  static_assert(FM >= 1 && FN >= 1 && WTM % 16 == 0 && WTN % 16 == 0, "tile shape");
  static_assert(kThreads % BN == 0 && (BM * kBK) % kThreads == 0, "load mapping");

  __shared__ __align__(128) float As[2][BM][kLdA];
  __shared__ __align__(128) float Bs[2][kBK][BN + 4];
  __shared__ __align__(128) float Cs[kThreads / 32][16][kLdC];

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const int m0 = int(blockIdx.y) * BM, n0 = int(blockIdx.x) * BN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  int r_begin, r_end;
  prob.range(int(blockIdx.z), r_begin, r_end);
  prob.prepare(n0);
  const int steps = r_end > r_begin ? (r_end - r_begin + kBK - 1) / kBK : 0;

  if (steps > 0) {
    prob.load_a(As[0], m0, r_begin, r_end);
    prob.load_b(Bs[0], r_begin, r_end, n0);
  }
  cp_async_commit();
  for (int t = 0; t < steps; ++t) {
    if (t + 1 < steps) {  // prefetch the next stage into the other buffer
      const int r = r_begin + (t + 1) * kBK;
      prob.load_a(As[(t + 1) & 1], m0, r, r_end);
      prob.load_b(Bs[(t + 1) & 1], r, r_end, n0);
    }
    cp_async_commit();   // (an empty group on the last step keeps the count uniform)
    cp_async_wait<1>();  // this step's stage has landed, for this thread's copies...
    __syncthreads();     // ...and for everyone's
    const int st = t & 1;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a_hi[FM], a_lo[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b_hi[FN], b_lo[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        wmma::load_matrix_sync(a_hi[i], &As[st][wm * WTM + i * 16][kk], kLdA);
        split_tf32<kExact>(a_hi[i], a_lo[i]);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        wmma::load_matrix_sync(b_hi[j], &Bs[st][kk][wn * WTN + j * 16], BN + 4);
        split_tf32<kExact>(b_hi[j], b_lo[j]);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) mma_tf32<kExact>(acc[i][j], a_hi[i], a_lo[i], b_hi[j], b_lo[j]);
    }
    __syncthreads();  // everyone is done with stage st before the next step refills it
  }

  // Epilogue: each 16x16 fragment goes through the warp's own staging tile, so that the
  // problem writes C with its own indexing (NCHW planes that a fragment may straddle).
  float(*stage)[kLdC] = Cs[warp];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(&stage[0][0], acc[i][j], kLdC, wmma::mem_row_major);
      __syncwarp();
      const int mb = m0 + wm * WTM + i * 16, nb = n0 + wn * WTN + j * 16;
#pragma unroll
      for (int e = lane; e < 256; e += 32) {
        const int r = e / 16, c = e % 16;
        if (mb + r < prob.M && nb + c < prob.N) prob.store(mb + r, nb + c, stage[r][c]);
      }
      __syncwarp();  // the next fragment overwrites the staging tile
    }
}

// dw[i] = sum over z < splits of partial[z][i] (fixed order: deterministic).
__global__ void __launch_bounds__(256) sum_splits_kernel(int64_t count, int splits, const float* __restrict__ partial,
                                                         float* __restrict__ dw) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += partial[int64_t(z) * count + i];
    dw[i] = s;
  }
}

// wt[c][o][kr][ks] = w[o][c][2-kr][2-ks]: the weights of the backward-data convolution.
__global__ void __launch_bounds__(256) flip_weights_kernel(int o, int c, const float* __restrict__ w,
                                                           float* __restrict__ wt) {
  const int64_t total = int64_t(o) * c * 9, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int tap = int(e % 9);
    const int64_t oc = e / 9;
    const int oi = int(oc / c), ci = int(oc - int64_t(oi) * c);
    wt[(int64_t(ci) * o + oi) * 9 + (8 - tap)] = w[e];
  }
}

// ---- launchers ----

// The tile shape for M rows: 64-row tiles when the layer has at most 64 output channels.
template <class Launch>
inline void with_tile(int M, Launch&& launch) {
  if (M <= 64)
    launch(std::integral_constant<int, 64>{});
  else
    launch(std::integral_constant<int, 128>{});
}

inline void check_shape(const Shape3x3& s, const char* what) {
  if (s.n <= 0 || s.c <= 0 || s.o <= 0 || s.oh <= 0 || s.ow <= 0 || s.sh <= 0 || s.sw <= 0 || s.ph < 0 || s.pw < 0)
    GRAFT_FAIL(what, ": bad convolution shape");
  const int64_t in = int64_t(s.n) * s.c * s.h * s.w, out = int64_t(s.n) * s.o * s.oh * s.ow;
  if (in >= (int64_t(1) << 31) || out >= (int64_t(1) << 31) || int64_t(s.c) * 9 >= (int64_t(1) << 31))
    GRAFT_FAIL(what, ": tensor too large for the hand-written kernel (2^31 elements)");
}

// y = conv(x, w) + b (b may be null).
inline void forward(const Shape3x3& s, const float* x, const float* w, const float* b, float* y, bool exact,
                    cudaStream_t stream) {
  check_shape(s, "conv3x3 forward");
  constexpr int BN = 128;
  with_tile(s.o, [&](auto bm) {
    constexpr int BM = decltype(bm)::value;
    ForwardProblem<BM, BN> p{};
    p.s = s;
    p.x = x;
    p.w = w;
    p.b = b;
    p.y = y;
    p.M = s.o;
    p.N = s.n * s.oh * s.ow;
    p.R = s.c * 9;
    p.vec_a = p.R % 4 == 0 && aligned(w, 16);
    const dim3 grid((p.N + BN - 1) / BN, (p.M + BM - 1) / BM, 1);
    if (exact) {
      auto k = gemm_kernel<ForwardProblem<BM, BN>, BM, BN, true>;
      GRAFT_LAUNCH(k, grid, kThreads, stream, p);
    } else {
      auto k = gemm_kernel<ForwardProblem<BM, BN>, BM, BN, false>;
      GRAFT_LAUNCH(k, grid, kThreads, stream, p);
    }
  });
  check_launch("conv3x3 forward", stream);
}

// The backward-data shape of a stride-1 convolution: dy (n, o, oh, ow) -> dx (n, c, h, w).
inline Shape3x3 backward_data_shape(const Shape3x3& s) {
  Shape3x3 t;
  t.n = s.n;
  t.c = s.o;
  t.h = s.oh;
  t.w = s.ow;
  t.o = s.c;
  t.oh = s.h;
  t.ow = s.w;
  t.sh = t.sw = 1;
  t.ph = 2 - s.ph;
  t.pw = 2 - s.pw;
  return t;
}
inline bool backward_data_supported(const Shape3x3& s) {
  return s.sh == 1 && s.sw == 1 && s.ph <= 2 && s.pw <= 2;
}
// Floats of scratch that backward_data needs (the flipped weights).
inline int64_t backward_data_scratch(const Shape3x3& s) { return int64_t(s.o) * s.c * 9; }

// dx = conv^T(dy, w), stride 1 only (see backward_data_supported). wt: scratch for o*c*9 floats.
inline void backward_data(const Shape3x3& s, const float* w, const float* dy, float* dx, float* wt, bool exact,
                          cudaStream_t stream) {
  check_shape(s, "conv3x3 backward data");
  if (!backward_data_supported(s)) GRAFT_FAIL("conv3x3 backward data: needs stride 1 and padding <= 2");
  GRAFT_LAUNCH(flip_weights_kernel, grid_for(int64_t(s.o) * s.c * 9, 256), 256, stream, s.o, s.c, w, wt);
  check_launch("conv3x3 flip weights", stream);
  forward(backward_data_shape(s), dy, wt, nullptr, dx, exact, stream);
}

// The split of the backward-filter reduction: enough blocks to fill `sms` multiprocessors
// about twice, each split at least 8 steps long.
struct FilterSplit {
  int splits = 1, chunk = 0;
};
inline FilterSplit filter_split(const Shape3x3& s, int sms) {
  const int M = s.o, N = s.c * 9, R = s.n * s.oh * s.ow;
  const int BM = M <= 64 ? 64 : 128, BN = 128;
  const int64_t tiles = int64_t((M + BM - 1) / BM) * ((N + BN - 1) / BN);
  int64_t want = (2 * int64_t(sms) + tiles - 1) / tiles;
  const int64_t most = std::max<int64_t>(1, R / (8 * kBK));
  FilterSplit f;
  f.splits = int(std::max<int64_t>(1, std::min<int64_t>({want, most, 256})));
  const int64_t per = (R + f.splits - 1) / f.splits;
  f.chunk = int((per + kBK - 1) / kBK * kBK);
  f.splits = int((R + f.chunk - 1) / f.chunk);
  return f;
}
// Floats of scratch that backward_filter needs.
inline int64_t backward_filter_scratch(const Shape3x3& s, int sms) {
  const FilterSplit f = filter_split(s, sms);
  return f.splits > 1 ? int64_t(f.splits) * s.o * s.c * 9 : 0;
}

// dw = sum over the batch of dy (x) im2col(x). partial: backward_filter_scratch floats.
inline void backward_filter(const Shape3x3& s, const float* x, const float* dy, float* dw, float* partial,
                            int sms, bool exact, cudaStream_t stream) {
  check_shape(s, "conv3x3 backward filter");
  const FilterSplit f = filter_split(s, sms);
  constexpr int BN = 128;
  with_tile(s.o, [&](auto bm) {
    constexpr int BM = decltype(bm)::value;
    FilterProblem<BM, BN> p{};
    p.s = s;
    p.x = x;
    p.dy = dy;
    p.out = f.splits > 1 ? partial : dw;
    p.M = s.o;
    p.N = s.c * 9;
    p.R = s.n * s.oh * s.ow;
    p.chunk = f.chunk;
    const dim3 grid((p.N + BN - 1) / BN, (p.M + BM - 1) / BM, f.splits);
    if (exact) {
      auto k = gemm_kernel<FilterProblem<BM, BN>, BM, BN, true>;
      GRAFT_LAUNCH(k, grid, kThreads, stream, p);
    } else {
      auto k = gemm_kernel<FilterProblem<BM, BN>, BM, BN, false>;
      GRAFT_LAUNCH(k, grid, kThreads, stream, p);
    }
  });
  check_launch("conv3x3 backward filter", stream);
  if (f.splits > 1) {
    const int64_t count = int64_t(s.o) * s.c * 9;
    GRAFT_LAUNCH(sum_splits_kernel, grid_for(count, 256), 256, stream, count, f.splits, partial, dw);
    check_launch("conv3x3 backward filter (sum of splits)", stream);
  }
}

}  // namespace conv
}  // namespace kernels
}  // namespace graft
