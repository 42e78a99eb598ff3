// The per-layer table: every distinct VGG16 convolution shape (forward, backward data,
// backward filter) with cuDNN and with graft's kernel, and fc6/fc7/fc8 on cuBLAS; time,
// GFLOP/s and the fraction of the measured matrix-product peak. Each graft result is also
// compared with cuDNN's on the full-size tensors (max |graft - cudnn| / max |cudnn|). The
// "cudnn-nhwc" rows are cuDNN in the context's channels-last mode (NHWC activations, KRSC
// filters), timed as the layer runs them: the weight transposes and the bias add included.
// The "cudnn-bf16" rows are channels-last in the context's bf16 mode (bf16 tensors, float32
// compute), with the operands' conversions included, as a layer runs them; their fraction is
// of the measured bf16 GEMM peak and their "vs" column compares with the cudnn-nhwc row (TF32
// or FP32 on the same data). fc6/7/8 get "cublas-bf16" rows the same way.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "bench/gpu/peaks.cuh"
#include "bench/gpu/report.hpp"
#include "bench/gpu/timing.cuh"
#include "graft/cuda.hpp"

namespace graft {
namespace bench {

// out[0] = max |a - b|, out[1] = max |b| (non-negative floats order like their bit patterns).
__global__ void max_abs_diff_kernel(int64_t n, const float* a, const float* b, unsigned* out) {
  float d = 0, m = 0;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float x = a[i], y = b[i];
    const float e = fabsf(x - y);
    d = (e > d || e != e) ? e : d;  // a NaN wins (and shows)
    m = fmaxf(m, fabsf(y));
  }
  atomicMax(out, __float_as_uint(d));
  atomicMax(out + 1, __float_as_uint(m));
}
inline double relative_difference(Context<CUDA>& ctx, int64_t n, const float* a, const float* b) {
  unsigned* d = ctx.scratch<unsigned>(2);
  GRAFT_CUDA_CHECK(cudaMemsetAsync(d, 0, 2 * sizeof(unsigned), ctx.stream()));
  GRAFT_LAUNCH(max_abs_diff_kernel, kernels::grid_for(n, 256, 4096), 256, ctx.stream(), n, a, b, d);
  kernels::check_launch("max_abs_diff", ctx.stream());
  unsigned h[2];
  GRAFT_CUDA_CHECK(cudaMemcpyAsync(h, d, sizeof h, cudaMemcpyDeviceToHost, ctx.stream()));
  ctx.synchronize();
  float num, den;
  std::memcpy(&num, &h[0], 4);
  std::memcpy(&den, &h[1], 4);
  return den > 0 ? double(num) / double(den) : double(num);
}

struct ConvSpec {
  const char* names;
  int64_t c, o;
  int block;  // 1..5: the input side is size >> (block - 1)
};
// The nine distinct convolution shapes of VGG16 (the layers that share one are named together).
const ConvSpec kVggConvs[] = {
    {"conv1_1", 3, 64, 1},       {"conv1_2", 64, 64, 1},    {"conv2_1", 64, 128, 2},
    {"conv2_2", 128, 128, 2},    {"conv3_1", 128, 256, 3},  {"conv3_2/3", 256, 256, 3},
    {"conv4_1", 256, 512, 4},    {"conv4_2/3", 512, 512, 4}, {"conv5_1/2/3", 512, 512, 5},
};

struct LayerOptions {
  int64_t batch = 64, size = 224, classes = 1000;
  int warmup = 3, reps = 20;
  bool tf32 = true;
};

inline void bench_layers(Context<CUDA>& ctx, const Peaks& peaks, const LayerOptions& o, Report& rep) {
  ctx.set_tf32(o.tf32);
  const double peak = o.tf32 ? peaks.tf32_tflops : peaks.fp32_tflops;
  line("");
  line("per-layer times, batch %lld, %lldx%lld, %s (fraction of the measured %s SGEMM peak, %.1f TFLOP/s)",
       (long long)o.batch, (long long)o.size, (long long)o.size, o.tf32 ? "TF32" : "FP32",
       o.tf32 ? "TF32" : "FP32", peak);
  line("%-12s %-10s %-12s %9s %10s %7s %10s", "layer", "impl", "pass", "ms", "GFLOP/s", "peak", "vs cudnn");
  const char* passes[3] = {"forward", "bwd-data", "bwd-filter"};
  uint64_t seed = 100;
  for (const ConvSpec& spec : kVggConvs) {
    const int64_t side = o.size >> (spec.block - 1);
    Conv2d<float, CUDA> conv(spec.names, spec.c, spec.o, 3, 1, 1);
    const Shape xs{o.batch, spec.c, side, side};
    const Shape ys = conv.setup(xs, ctx);
    ConvGeometry g;
    g.n = o.batch; g.c = spec.c; g.h = side; g.w = side; g.o = spec.o; g.oh = ys[2]; g.ow = ys[3];
    g.win = conv.window();
    Tensor<float, CUDA> x(xs), dy(ys), y[4], dx[4], dw[4];
    fill_uniform(x, seed++, -1, 1, ctx.stream());
    fill_uniform(dy, seed++, -1, 1, ctx.stream());
    fill_uniform(conv.biases.value, seed++, -1, 1, ctx.stream());  // weights: He-initialised, random
    const float* w = conv.weights.value.data();
    const float* b = conv.biases.value.data();
    const double flops = g.forward_flops();
    for (int k = 0; k < 4; ++k) {  // cuDNN, graft, cuDNN channels-last, cuDNN channels-last bf16
      const ConvImpl impl = k == 1 ? ConvImpl::Graft : ConvImpl::Cudnn;
      const char* impl_name = k == 3 ? "cudnn-bf16" : k == 2 ? "cudnn-nhwc" : to_string(impl);
      const double kpeak = k == 3 ? peaks.bf16_tflops : peak;
      conv.plan().set_impl(impl);
      ctx.set_channels_last(k >= 2);
      ctx.set_precision(k == 3 ? Precision::BF16 : Precision::FP32);
      y[k].resize(ys);
      dx[k].resize(xs);
      dw[k].resize(conv.weights.value.shape());
      auto& plan = conv.plan();
      for (int pass = 0; pass < 3; ++pass) try {  // (a channels-last failure is reported, the table goes on)
        const Timing t = time_on(ctx.stream(), o.warmup, o.reps, [&] {
          if (pass == 0) plan.forward(g, x.data(), w, b, y[k].data());
          if (pass == 1) plan.backward_data(g, w, dy.data(), dx[k].data());
          if (pass == 2) plan.backward_filter(g, x.data(), dy.data(), dw[k].data());
        });
        const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
        double diff = -1;
        if (k == 1 || k == 3) {  // graft against cuDNN (NCHW); bf16 against cuDNN channels-last
          const int ref = k == 1 ? 0 : 2;
          const Tensor<float, CUDA>* got[3] = {&y[k], &dx[k], &dw[k]};
          const Tensor<float, CUDA>* want[3] = {&y[ref], &dx[ref], &dw[ref]};
          diff = relative_difference(ctx, got[pass]->size(), got[pass]->data(), want[pass]->data());
        }
        const std::string used = k >= 2 ? impl_name : to_string(plan.impl_used(g, pass));
        char vs[32] = "";
        if (diff >= 0) std::snprintf(vs, sizeof vs, "%.1e", diff);
        line("%-12s %-10s %-12s %9.3f %10.0f %6.1f%% %10s", spec.names, used.c_str(), passes[pass], t.median_ms,
             gflops, 100.0 * gflops / (kpeak * 1e3), vs);
        Report::Record r("layer");
        r.str("layer", spec.names).str("impl", impl_name).str("impl_used", used).str("pass", passes[pass])
            .num("batch", double(o.batch)).num("size", double(side)).num("c", double(spec.c)).num("o", double(spec.o))
            .num("ms", t.median_ms).num("gflops", gflops).num("peak_fraction", gflops / (kpeak * 1e3))
            .str("math", k == 3 ? "bf16" : o.tf32 ? "tf32" : "fp32");
        if (diff >= 0) r.num("rel_diff_vs_cudnn", diff);
        if (k != 1) {
          const cuda::ConvAlgos& a = plan.cudnn_algos(g);
          const cuda::AlgoChoice& c = pass == 0 ? a.forward : pass == 1 ? a.backward_data : a.backward_filter;
          r.num("cudnn_algo", c.algo).num("cudnn_workspace", double(c.workspace));
        }
        rep.write(r);
      } catch (const Error& e) {
        if (k < 2) throw;
        line("%-12s %-10s %-12s FAILED: %s", spec.names, impl_name, passes[pass], e.what());
      }
    }
    ctx.set_channels_last(false);
    ctx.set_precision(Precision::FP32);
  }
  // fully connected layers (cuBLAS only), float32/TF32 then bf16
  struct FcSpec {
    const char* name;
    int64_t in, out;
  };
  const int64_t pooled = 512 * (o.size / 32) * (o.size / 32);
  const FcSpec fcs[] = {{"fc6", pooled, 4096}, {"fc7", 4096, 4096}, {"fc8", 4096, o.classes}};
  for (const FcSpec& f : fcs) {
    Tensor<float, CUDA> x(Shape{o.batch, f.in}), w(Shape{f.out, f.in}), bias(Shape{f.out}), y(Shape{o.batch, f.out}),
        dy(Shape{o.batch, f.out}), dx(Shape{o.batch, f.in}), dw(Shape{f.out, f.in});
    fill_uniform(x, seed++, -1, 1, ctx.stream());
    fill_uniform(w, seed++, -0.01f, 0.01f, ctx.stream());
    fill_uniform(bias, seed++, -1, 1, ctx.stream());
    fill_uniform(dy, seed++, -1, 1, ctx.stream());
    const double flops = 2.0 * double(o.batch) * double(f.in) * double(f.out);
    for (int pass6 = 0; pass6 < 6; ++pass6) {
      const int pass = pass6 % 3;
      const bool bf = pass6 >= 3;
      const double kpeak = bf ? peaks.bf16_tflops : peak;
      const char* impl_name = bf ? "cublas-bf16" : "cublas";
      ctx.set_precision(bf ? Precision::BF16 : Precision::FP32);
      const Timing t = time_on(ctx.stream(), o.warmup, o.reps, [&] {
        if (pass == 0) Backend<CUDA>::linear_forward(ctx, o.batch, f.in, f.out, x.data(), w.data(), bias.data(), y.data());
        if (pass == 1) Backend<CUDA>::linear_backward_data(ctx, o.batch, f.in, f.out, dy.data(), w.data(), dx.data());
        if (pass == 2)
          Backend<CUDA>::linear_backward_params(ctx, o.batch, f.in, f.out, x.data(), dy.data(), dw.data(),
                                                static_cast<float*>(nullptr));
      });
      const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
      line("%-12s %-10s %-12s %9.3f %10.0f %6.1f%% %10s", f.name, impl_name, passes[pass], t.median_ms, gflops,
           100.0 * gflops / (kpeak * 1e3), "");
      rep.write(Report::Record("layer").str("layer", f.name).str("impl", impl_name).str("impl_used", impl_name)
                    .str("pass", passes[pass]).num("batch", double(o.batch)).num("in", double(f.in))
                    .num("out", double(f.out)).num("ms", t.median_ms).num("gflops", gflops)
                    .num("peak_fraction", gflops / (kpeak * 1e3)).str("math", bf ? "bf16" : o.tf32 ? "tf32" : "fp32"));
    }
    ctx.set_precision(Precision::FP32);
  }
  ctx.set_tf32(true);
}

}  // namespace bench
}  // namespace graft
