// The card's two ceilings, measured once per run: device-to-device copy bandwidth (bytes read
// plus bytes written) and matrix-product rate through cuBLAS (TF32 and FP32, and bf16
// operands with float32 accumulation and result: what Linear runs in bf16 mode), on random data.
// Every other number of the benchmark is reported as a fraction of these.
#pragma once

#include "bench/gpu/report.hpp"
#include "bench/gpu/timing.cuh"
#include "graft/cuda.hpp"

namespace graft {
namespace bench {

struct Peaks {
  double copy_gbs = 0;       // GB/s, read + write
  double tf32_tflops = 0;    // cuBLAS SGEMM with TF32 tensor cores
  double fp32_tflops = 0;    // cuBLAS SGEMM without
  double bf16_tflops = 0;    // cublasGemmEx, bf16 operands, float32 accumulation and result
};

inline Peaks measure_peaks(Context<CUDA>& ctx, Report& rep, bool quick) {
  Peaks p;
  const int reps = quick ? 3 : 10;
  {
    const int64_t n = quick ? (int64_t(1) << 24) : (int64_t(1) << 28);  // 64 MiB / 1 GiB of floats
    Tensor<float, CUDA> a(Shape{n}), b(Shape{n});
    fill_uniform(a, 1, -1, 1, ctx.stream());
    const Timing t = time_on(ctx.stream(), 2, reps, [&] {
      GRAFT_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), a.bytes(), cudaMemcpyDeviceToDevice, ctx.stream()));
    });
    p.copy_gbs = 2.0 * double(a.bytes()) / (t.median_ms * 1e-3) / 1e9;
    rep.write(Report::Record("peak").str("what", "copy").num("bytes", 2.0 * double(a.bytes())).num("ms", t.median_ms).num("gbs", p.copy_gbs));
  }
  for (bool tf32 : {true, false}) {
    const int64_t n = quick ? 1024 : (tf32 ? 8192 : 4096);
    Tensor<float, CUDA> a(Shape{n, n}), b(Shape{n, n}), c(Shape{n, n});
    fill_uniform(a, 2, -1, 1, ctx.stream());
    fill_uniform(b, 3, -1, 1, ctx.stream());
    ctx.set_tf32(tf32);
    const Timing t = time_on(ctx.stream(), 2, reps, [&] {
      cuda::gemm<float>(ctx, false, false, n, n, n, a.data(), n, b.data(), n, c.data(), n, "peak gemm");
    });
    const double tflops = 2.0 * double(n) * double(n) * double(n) / (t.median_ms * 1e-3) / 1e12;
    (tf32 ? p.tf32_tflops : p.fp32_tflops) = tflops;
    rep.write(Report::Record("peak").str("what", tf32 ? "gemm_tf32" : "gemm_fp32").num("n", double(n)).num("ms", t.median_ms).num("tflops", tflops));
  }
  ctx.set_tf32(true);
  {
    const int64_t n = quick ? 1024 : 8192;
    Tensor<float, CUDA> f(Shape{n, n}), c(Shape{n, n});
    Tensor<bf16, CUDA> a(Shape{n, n}), b(Shape{n, n});
    fill_uniform(f, 4, -1, 1, ctx.stream());
    kernels::to_bf16(f.size(), f.data(), a.data(), ctx.stream());
    fill_uniform(f, 5, -1, 1, ctx.stream());
    kernels::to_bf16(f.size(), f.data(), b.data(), ctx.stream());
    const float one = 1, zero = 0;
    const Timing t = time_on(ctx.stream(), 2, reps, [&] {
      cuda::check(cublasGemmEx(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(n), int(n), &one, a.data(),
                               CUDA_R_16BF, int(n), b.data(), CUDA_R_16BF, int(n), &zero, c.data(), CUDA_R_32F, int(n),
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx (bf16 peak)");
    });
    p.bf16_tflops = 2.0 * double(n) * double(n) * double(n) / (t.median_ms * 1e-3) / 1e12;
    rep.write(Report::Record("peak").str("what", "gemm_bf16").num("n", double(n)).num("ms", t.median_ms).num("tflops", p.bf16_tflops));
  }
  line("measured peaks: copy %.0f GB/s (read+write), SGEMM %.1f TFLOP/s with TF32, %.1f TFLOP/s FP32, "
       "bf16 GEMM %.1f TFLOP/s", p.copy_gbs, p.tf32_tflops, p.fp32_tflops, p.bf16_tflops);
  return p;
}

}  // namespace bench
}  // namespace graft
