// graft's memory-bound kernels against the measured copy bandwidth, and against cuDNN where
// cuDNN has the same operation (max pooling, softmax). Bytes are the fewest the operation
// must move: each input read once, each output written once.
#pragma once

#include "bench/gpu/peaks.cuh"
#include "bench/gpu/report.hpp"
#include "bench/gpu/timing.cuh"
#include "graft/cuda.hpp"
#include "kernels/bias.cuh"

namespace graft {
namespace bench {

struct BandwidthOptions {
  int64_t batch = 64, size = 224;
  int warmup = 3, reps = 20;
};

inline void bench_bandwidth(Context<CUDA>& ctx, const Peaks& peaks, const BandwidthOptions& o, Report& rep) {
  line("");
  line("memory-bound kernels (fraction of the measured copy bandwidth, %.0f GB/s)", peaks.copy_gbs);
  line("%-22s %-6s %14s %9s %9s %7s", "kernel", "impl", "shape", "ms", "GB/s", "copy");
  auto report = [&](const char* kernel, const char* impl, const Shape& s, double bytes, const Timing& t) {
    const double gbs = bytes / (t.median_ms * 1e-3) / 1e9;
    line("%-22s %-6s %14s %9.3f %9.0f %6.1f%%", kernel, impl, s.str().c_str(), t.median_ms, gbs,
         100.0 * gbs / peaks.copy_gbs);
    rep.write(Report::Record("bandwidth").str("kernel", kernel).str("impl", impl).str("shape", s.str())
                  .num("bytes", bytes).num("ms", t.median_ms).num("gbs", gbs).num("copy_fraction", gbs / peaks.copy_gbs));
  };
  cudaStream_t st = ctx.stream();
  // conv1_2's output: the largest activation of VGG16
  const Shape act{o.batch, 64, o.size, o.size};
  const int64_t n = act.numel();
  const double f = sizeof(float);
  {
    Tensor<float, CUDA> x(act), y(act), dy(act), dx(act), b(Shape{64}), db(Shape{64});
    fill_uniform(x, 11, -1, 1, st);
    fill_uniform(dy, 12, -1, 1, st);
    fill_uniform(b, 13, -1, 1, st);
    report("relu forward", "graft", act, 2 * f * n,
           time_on(st, o.warmup, o.reps, [&] { Backend<CUDA>::relu_forward(ctx, n, x.data(), y.data()); }));
    report("relu backward", "graft", act, 3 * f * n,
           time_on(st, o.warmup, o.reps, [&] { Backend<CUDA>::relu_backward(ctx, n, x.data(), dy.data(), dx.data()); }));
    report("dropout", "graft", act, 2 * f * n,
           time_on(st, o.warmup, o.reps, [&] { Backend<CUDA>::dropout_apply(ctx, n, x.data(), y.data(), 0.5f, 77); }));
    report("bias add", "graft", act, 2 * f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::bias_add<float>(o.batch, 64, o.size * o.size, y.data(), b.data(), st);
           }));
    report("bias+relu (fused)", "graft", act, 2 * f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::bias_relu<float>(o.batch, 64, o.size * o.size, y.data(), b.data(), st);
           }));
    report("bias gradient", "graft", act, f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::bias_grad<float>(o.batch, 64, o.size * o.size, dy.data(), db.data(),
                                       ctx.scratch<float>(size_t(o.batch * 64)), st);
           }));
    report("copy (layers)", "graft", act, 2 * f * n,
           time_on(st, o.warmup, o.reps, [&] { Backend<CUDA>::copy(ctx, n, x.data(), y.data()); }));

    // pool1: 2x2 stride 2 on conv1_2's output
    MaxPool2d<float, CUDA> pool("pool1", 2, 2);
    const Shape ps = pool.setup(act, ctx);
    ConvGeometry g;
    g.n = act[0]; g.c = act[1]; g.h = act[2]; g.w = act[3]; g.o = act[1]; g.oh = ps[2]; g.ow = ps[3];
    g.win = pool.window();
    Tensor<float, CUDA> py(ps), pdy(ps);
    fill_uniform(pdy, 14, -1, 1, st);
    for (bool nhwc : {false, true}) {  // the context's channels-last mode: NHWC pooling
      ctx.set_channels_last(nhwc);
      for (PoolImpl impl : {PoolImpl::Graft, PoolImpl::Cudnn}) {
        pool.plan().set_impl(impl);
        try {  // (an NHWC case cuDNN refuses is reported, and the table goes on)
          report(nhwc ? "max pool fwd (NHWC)" : "max pool forward", to_string(impl), act, f * (n + ps.numel()),
                 time_on(st, o.warmup, o.reps, [&] { pool.plan().forward(g, x.data(), py.data()); }));
          report(nhwc ? "max pool bwd (NHWC)" : "max pool backward", to_string(impl), act, f * (2 * n + ps.numel()),
                 time_on(st, o.warmup, o.reps, [&] {
                   pool.plan().backward(g, x.data(), py.data(), pdy.data(), dx.data());
                 }));
        } catch (const Error& e) {
          if (!nhwc) throw;
          line("max pool (NHWC) %s: FAILED: %s", to_string(impl), e.what());
        }
      }
    }
    ctx.set_channels_last(false);
    // the channels-last mode's layout changes and bias kernels
    report("nchw -> nhwc", "graft", act, 2 * f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::nchw_to_nhwc<float>(act[0], act[1], act[2] * act[3], x.data(), y.data(), st);
           }));
    report("bias add (NHWC)", "graft", act, 2 * f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::bias_add_rows<float>(n / 64, 64, y.data(), b.data(), st);
           }));
    report("bias gradient (NHWC)", "graft", act, f * n, time_on(st, o.warmup, o.reps, [&] {
             kernels::bias_grad_rows<float>(n / 64, 64, dy.data(), db.data(),
                                            ctx.scratch<float>(size_t(kernels::bias_grad_rows_scratch(n / 64, 64))), st);
           }));
  }
  {
    // the optimizers over fc6's weights, the largest parameter of VGG16
    const int64_t p = int64_t(512) * (o.size / 32) * (o.size / 32) * 4096;
    const Shape ws{p};
    Tensor<float, CUDA> w(ws), g(ws), m(ws), v(ws);
    fill_uniform(w, 15, -1, 1, st);
    fill_uniform(g, 16, -1, 1, st);
    fill_uniform(m, 17, -0.1f, 0.1f, st);
    fill_uniform(v, 18, 0.01f, 1, st);
    report("sgd momentum", "graft", ws, 5 * f * p, time_on(st, o.warmup, o.reps, [&] {
             Backend<CUDA>::sgd_update(ctx, p, w.data(), g.data(), m.data(), 1e-6f, 0.9f, 5e-4f, false);
           }));
    report("adam", "graft", ws, 7 * f * p, time_on(st, o.warmup, o.reps, [&] {
             Backend<CUDA>::adam_update(ctx, p, w.data(), g.data(), m.data(), v.data(), 1e-6f, 0.9f, 0.999f, 1e-8f, 0, 10);
           }));
  }
  {
    // softmax + cross-entropy: a training batch (microseconds: launch-bound) and a large one
    for (const Shape& s : {Shape{o.batch, 1000}, Shape{o.batch, 2622}, Shape{65536, 1000}}) {
      const int64_t rows = s[0], k = s[1];
      Tensor<float, CUDA> z(s), probs(s);
      fill_uniform(z, 19, -5, 5, st);
      Tensor<int32_t> labels_h(Shape{rows});
      for (int64_t i = 0; i < rows; ++i) labels_h[i] = int32_t((i * 7919) % k);
      Tensor<int32_t, CUDA> labels;
      copy_from_host(labels_h, labels);
      float* row_loss = ctx.loss_scratch<float>(size_t(rows));
      report("softmax+xent forward", "graft", s, 2 * f * rows * k, time_on(st, o.warmup, o.reps, [&] {
               kernels::softmax_xent_forward<float>(rows, k, z.data(), labels.data(), probs.data(), row_loss, st);
             }));
      cuda::TensorDesc d;
      GRAFT_CUDA_CHECK(cudnnSetTensor4dDescriptor(d.d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(rows), int(k), 1, 1));
      report("softmax+xent forward", "cudnn", s, 2 * f * rows * k, time_on(st, o.warmup, o.reps, [&] {
               const float one = 1, zero = 0;
               GRAFT_CUDA_CHECK(cudnnSoftmaxForward(ctx.cudnn(), CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE,
                                                    &one, d.d, z.data(), &zero, d.d, probs.data()));
               kernels::xent_from_probs<float>(rows, k, probs.data(), labels.data(), row_loss, st);
             }));
    }
  }
}

}  // namespace bench
}  // namespace graft
