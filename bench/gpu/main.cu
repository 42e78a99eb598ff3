// graft-bench-gpu: graft's GPU benchmarks (the GPU part of the benchmark issue).
//
//   graft-bench-gpu [--peaks] [--layers] [--kernels] [--step] [--all]
//                   [--batch 64] [--size 224] [--classes 1000] [--conv cudnn|graft]
//                   [--pool graft|cudnn] [--channels-last] [--fp32] [--precision fp32|bf16]
//                   [--steps 10] [--reps 20] [--quick]
//                   [--json FILE] [--tag TEXT]
//
// --peaks    the card's measured copy bandwidth and SGEMM rates (every table is a fraction
//            of these; measured first whenever a table needs them)
// --layers   every VGG16 conv shape with cuDNN and with graft's kernel, and fc6/7/8
// --kernels  graft's memory-bound kernels vs the copy bandwidth, pooling/softmax vs cuDNN
// --step     the VGG16 training step (forward + backward + Adam) in images/s; with
//            --channels-last its 4-D activations are NHWC (Context<CUDA>::set_channels_last);
//            --precision bf16: bf16 convolutions and fc layers, float32 accumulation
//            (Context<CUDA>::set_precision; the row's math says bf16); the ReLUs are fused into
//            the convolutions' bias pass or the dropouts above them (Network::fuse_relu) unless --no-fuse
// Without a CUDA device it says so and exits 0, so that scripts run everywhere.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/gpu/bandwidth.cuh"
#include "bench/gpu/layers.cuh"
#include "bench/gpu/peaks.cuh"
#include "bench/gpu/report.hpp"
#include "bench/gpu/step.cuh"
#include "graft/cuda.hpp"

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "graft-bench-gpu: %s\n"
               "usage: graft-bench-gpu [--peaks] [--layers] [--kernels] [--step] [--all] [--batch N] [--size N]\n"
               "       [--classes N] [--conv cudnn|graft] [--pool graft|cudnn] [--channels-last] [--fp32] [--steps N]\n"
               "       [--precision fp32|bf16 (the --step network's)] [--no-fuse (no ReLU fusion)]\n"
               "       [--net vgg16|resnet50 (the --step network)]\n"
               "       [--reps N] [--quick] [--json FILE] [--tag TEXT]\n",
               why);
  std::exit(2);
}

long long number(int& i, int argc, char** argv) {
  if (i + 1 >= argc) usage((std::string(argv[i]) + " needs a value").c_str());
  char* end = nullptr;
  const long long v = std::strtoll(argv[++i], &end, 10);
  if (!end || *end || v <= 0) usage((std::string("bad value for ") + argv[i - 1] + ": " + argv[i]).c_str());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace graft;
  bool peaks = false, layers = false, kernels_ = false, step = false, quick = false, tf32 = true;
  bench::LayerOptions lo;
  bench::StepOptions so;
  std::string json, tag;
  int reps = 20, steps = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--peaks") peaks = true;
    else if (a == "--layers") layers = true;
    else if (a == "--kernels") kernels_ = true;
    else if (a == "--step") step = true;
    else if (a == "--all") peaks = layers = kernels_ = step = true;
    else if (a == "--quick") quick = true;
    else if (a == "--fp32") tf32 = false;
    else if (a == "--channels-last") so.channels_last = true;
    else if (a == "--no-fuse") so.fuse = false;
    else if (a == "--precision") {
      if (i + 1 >= argc) usage("--precision needs a value");
      const std::string v = argv[++i];
      if (v != "fp32" && v != "bf16") usage("--precision takes fp32 or bf16");
      so.precision = parse_precision(v);
    }
    else if (a == "--net") {
      if (i + 1 >= argc) usage("--net needs a value");
      so.net = argv[++i];
    }
    else if (a == "--batch") lo.batch = number(i, argc, argv);
    else if (a == "--size") lo.size = number(i, argc, argv);
    else if (a == "--classes") lo.classes = number(i, argc, argv);
    else if (a == "--steps") steps = int(number(i, argc, argv));
    else if (a == "--reps") reps = int(number(i, argc, argv));
    else if (a == "--json" && i + 1 < argc) json = argv[++i];
    else if (a == "--tag" && i + 1 < argc) tag = argv[++i];
    else if (a == "--conv" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v != "cudnn" && v != "graft") usage("--conv takes cudnn or graft");
      so.conv = v == "cudnn" ? ConvImpl::Cudnn : ConvImpl::Graft;
    } else if (a == "--pool" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v != "cudnn" && v != "graft") usage("--pool takes graft or cudnn");
      so.pool = v == "cudnn" ? PoolImpl::Cudnn : PoolImpl::Graft;
    } else if (a == "-h" || a == "--help") usage("graft's GPU benchmarks");
    else usage(("unknown argument " + a).c_str());
  }
  if (!peaks && !layers && !kernels_ && !step) peaks = layers = kernels_ = step = true;
  if (lo.size % 32 != 0) usage("--size must be a multiple of 32 (five 2x2 pools)");
  if (quick) {  // a smoke run: small shapes, few repetitions (proves the program works)
    lo.batch = std::min<int64_t>(lo.batch, 2);
    lo.size = std::min<int64_t>(lo.size, 64);
    reps = std::min(reps, 3);
    steps = std::min(steps, 2);
  }
  lo.reps = reps;
  lo.warmup = quick ? 1 : 3;
  lo.tf32 = tf32;

  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("graft-bench-gpu: no CUDA device (%s); nothing to measure\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    return 0;
  }
  try {
    bench::Report rep(json);
    Context<CUDA> ctx;
    const cudaDeviceProp& p = ctx.properties();
    int rt = 0, drv = 0;
    GRAFT_CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    GRAFT_CUDA_CHECK(cudaDriverGetVersion(&drv));
    bench::line("device: %s, %d SMs, %.1f GiB, L2 %.0f MiB; CUDA runtime %d, driver %d; cuDNN %zu; cuBLAS %d", p.name,
                p.multiProcessorCount, double(p.totalGlobalMem) / double(1 << 30), double(p.l2CacheSize) / (1 << 20),
                rt, drv, cudnnGetVersion(), [] {
                  int v = 0;
                  cublasHandle_t h;
                  if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
                    cublasGetVersion(h, &v);
                    cublasDestroy(h);
                  }
                  return v;
                }());
    rep.write(bench::Report::Record("device").str("name", p.name).num("sms", p.multiProcessorCount)
                  .num("memory", double(p.totalGlobalMem)).num("cuda_runtime", rt).num("driver", drv)
                  .num("cudnn", double(cudnnGetVersion())).str("tag", tag));
    bench::Peaks pk;
    if (peaks || layers || kernels_) pk = bench::measure_peaks(ctx, rep, quick);
    if (layers) bench::bench_layers(ctx, pk, lo, rep);
    if (kernels_) {
      bench::BandwidthOptions bo;
      bo.batch = lo.batch;
      bo.size = lo.size;
      bo.reps = reps;
      bo.warmup = lo.warmup;
      bench::bench_bandwidth(ctx, pk, bo, rep);
    }
    if (step) {
      so.batch = lo.batch;
      so.size = lo.size;
      so.classes = lo.classes;
      so.tf32 = tf32;
      so.steps = steps;
      so.warmup = quick ? 1 : 3;
      so.tag = tag;
      bench::bench_step(so, rep);
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "graft-bench-gpu: %s\n", ex.what());
    return 1;
  }
  return 0;
}
