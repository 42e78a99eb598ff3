// The VGG16 (or ResNet-50) training step on the GPU: forward, softmax cross-entropy, backward
// through every layer, Adam update of all parameters (VGG16: 138 M, ResNet-50: 25.6 M), as
// graft::nn::Network runs it, in training mode (dropout on; BatchNorm on batch statistics). Timed with events from the start of forward to the end of the update; the
// loss is read back every step (as a training loop that logs it does, and as
// bench/gpu/torch_step.py does with loss.item()).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "bench/gpu/report.hpp"
#include "bench/gpu/timing.cuh"
#include "graft/cuda.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/resnet.hpp"
#include "graft/nn/vgg.hpp"
#include "graft/train/optimizer.hpp"

namespace graft {
namespace bench {

struct StepOptions {
  std::string net = "vgg16";  // or resnet18, resnet34, resnet50 (torchvision's geometry)
  int64_t batch = 64, size = 224, classes = 1000;
  int warmup = 3, steps = 10;
  bool tf32 = true;
  bool channels_last = false;  // Context<CUDA>::set_channels_last: NHWC activations
  Precision precision = Precision::FP32;  // Context<CUDA>::set_precision: bf16 convolutions and fc layers
  bool fuse = true;                      // Network::fuse_relu: ReLU into conv bias pass or dropout (--no-fuse: off)
  ConvImpl conv = ConvImpl::Cudnn;
  PoolImpl pool = PoolImpl::Graft;
  std::string tag;  // a label for this run in the JSON (e.g. the round of an interleaved comparison)
};

inline void bench_step(const StepOptions& o, Report& rep) {
  nn::VggOptions vo;
  vo.input = o.size;
  GRAFT_CHECK(o.net == "vgg16" || nn::is_resnet(o.net), "graft-bench-gpu: unknown --net ", o.net,
              " (vgg16, resnet18, resnet34, resnet50)");
  auto net = o.net == "vgg16" ? nn::vgg16<float, CUDA>(o.classes, vo)
                              : nn::resnet_by_name<float, CUDA>(o.net, o.classes, {o.size, 1.0});
  const char* name = o.net == "vgg16" ? "VGG16" : o.net == "resnet50" ? "ResNet-50" : o.net.c_str();
  Context<CUDA>& ctx = net->context();
  ctx.set_tf32(o.tf32);
  ctx.set_channels_last(o.channels_last);
  ctx.set_precision(o.precision);
  // Each layer is asked what it can run, never told apart by type: the conv choice goes to
  // every convolution that has it (graft's kernel: the 3x3 ones), the pool choice to max and
  // average pooling alike.
  for (auto* l : net->layers()) {
    const std::string kind = l->implementation_kind();
    const char* want = kind == "convolution" ? to_string(o.conv) : kind == "pooling" ? to_string(o.pool) : nullptr;
    const auto v = l->implementations();
    if (want && std::find(v.begin(), v.end(), want) != v.end()) l->use_implementation(want);
  }
  if (o.fuse) net->fuse_relu();
  net->set_training(true);
  SoftmaxCrossEntropy<float, CUDA> loss;
  loss.setup(ctx);
  train::AdamOptions ao;
  ao.lr = 1e-5f;  // small: the weights stay sane over the timed steps
  train::Adam<float, CUDA> adam(ao);

  Tensor<float, CUDA> x(Shape{o.batch, 3, o.size, o.size}), dlogits;
  fill_uniform(x, 21, -1, 1, ctx.stream());
  Tensor<int32_t> labels_h(Shape{o.batch});
  for (int64_t i = 0; i < o.batch; ++i) labels_h[i] = int32_t((i * 37) % o.classes);
  Tensor<int32_t, CUDA> labels;
  copy_from_host(labels_h, labels);

  double last_loss = 0;
  auto step = [&] {
    const Tensor<float, CUDA>& logits = net->forward(x);
    last_loss = loss.forward(logits, labels);
    loss.backward(labels, dlogits);
    net->backward(dlogits);
    adam.step(ctx, net->params(true));
  };
  const Timing t = time_on(ctx.stream(), o.warmup, o.steps, step);
  size_t free_b = 0, total_b = 0;
  GRAFT_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double ips = double(o.batch) / (t.median_ms * 1e-3);
  line("");
  const char* layout = o.channels_last ? "channels-last" : "nchw";
  // the math of the products: bf16 (float32 accumulation), else TF32 or FP32
  const char* math = o.precision == Precision::BF16 ? "bf16" : o.tf32 ? "tf32" : "fp32";
  line("graft %s training step (fwd+bwd+Adam), batch %lld, %lldx%lld, %s, layout %s, conv %s, pool %s%s%s%s:",
       name, (long long)o.batch, (long long)o.size, (long long)o.size, math, layout, to_string(o.conv),
       to_string(o.pool), o.fuse ? "" : ", unfused", o.tag.empty() ? "" : ", ", o.tag.c_str());
  line("  %.2f ms/step (median of %d; min %.2f, max %.2f), %.1f images/s, loss %.4f, device memory in use %.1f GiB",
       t.median_ms, t.reps, t.min_ms, t.max_ms, ips, last_loss, double(total_b - free_b) / double(1 << 30));
  GRAFT_CHECK(std::isfinite(last_loss), "graft-bench-gpu: the training step's loss is not finite (", last_loss, ")");
  rep.write(Report::Record("step").str("net", o.net).str("framework", "graft").str("conv", to_string(o.conv))
                .str("pool", to_string(o.pool)).str("layout", layout).str("math", math).str("fused", o.fuse ? "relu" : "none").str("tag", o.tag)
                .num("batch", double(o.batch)).num("size", double(o.size)).num("classes", double(o.classes))
                .num("ms_per_batch", t.median_ms).num("min_ms", t.min_ms).num("max_ms", t.max_ms)
                .num("images_per_second", ips).num("steps", t.reps).num("loss", last_loss)
                .num("device_memory_used", double(total_b - free_b)));
}

}  // namespace bench
}  // namespace graft
