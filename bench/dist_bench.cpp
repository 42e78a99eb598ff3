// graft-bench-dist: the step time of data-parallel training on the CPU, for one rank or N
// under mpirun, and what a step sends. bench/dist-scaling runs it with 1 and 2 ranks on the
// same cores and prints the scaling efficiency.
//
//   mpirun -np 2 graft-bench-dist --arch vgg16 --width 0.25 --input 64 --batch 32 --steps 6
//
// Each rank trains on its share of every global batch of random images (the same global
// batches whatever the number of ranks), every parameter learning (no feature cache), SGD.
// Printed by rank 0: the mean step time over the steps after a warm-up epoch (the slowest
// rank's: a step ends on every rank together), images/s, and the gradient floats summed per
// step in how many buckets, as one JSON line with --json. --sync-bn: BatchNorm statistics of the
// global batch (Trainer::Options::sync_batchnorm; ResNets), two more sums per BatchNorm a step.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "graft/cpu.hpp"
#include "graft/dist/launch.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"

using namespace graft;

int main(int argc, char** argv) {
  std::string arch = "vgg16";
  double width = 0.25;
  int64_t input = 64, batch = 32, steps = 6;
  size_t bucket_mb = 25;
  bool json = false, sync_bn = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "graft-bench-dist: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--arch") arch = next();
    else if (a == "--width") width = std::atof(next().c_str());
    else if (a == "--input") input = std::atoll(next().c_str());
    else if (a == "--batch") batch = std::atoll(next().c_str());
    else if (a == "--steps") steps = std::atoll(next().c_str());
    else if (a == "--bucket-mb") bucket_mb = size_t(std::atoll(next().c_str()));
    else if (a == "--json") json = true;
    else if (a == "--sync-bn") sync_bn = true;
    else {
      std::fprintf(stderr,
                   "usage: [mpirun -np N] graft-bench-dist [--arch vgg16|resnet18|resnet50] [--width W] [--input PX]\n"
                   "       [--batch GLOBAL] [--steps K] [--bucket-mb M] [--sync-bn] [--json]\n");
      return 2;
    }
  }
  auto comm = dist::from_environment();
  try {
    nn::ModelInfo m;
    m.arch = arch;
    m.vgg.width = width;
    m.vgg.input = input;
    m.vgg.dropout = 0;
    m.classes = {"a", "b"};
    auto net = nn::build<float, CPU>(m);
    net->initialize(1);
    net->unfreeze_all();
    const int64_t n = batch * steps;
    Tensor<float> images(Shape{n, 3, input, input});
    Tensor<int32_t> labels(Shape{n});
    Rng rng(7);
    for (auto& v : images) v = float(rng.normal());
    for (int64_t i = 0; i < n; ++i) labels[i] = int32_t(rng.below(2));
    train::Sgd<float, CPU> sgd({1e-4f, 0.9f, 0.0f, false});
    train::Trainer<CPU>::Options o;
    o.comm = comm.get();
    o.bucket_bytes = bucket_mb << 20;
    o.sync_batchnorm = sync_bn;
    train::Trainer<CPU> t(*net, sgd, o);
    train::TensorSource src(images, labels, batch, 3, dist::Shard(comm->rank(), comm->size()));
    t.train_epoch(src, 0);  // warm-up: buffers, plans, first touches
    const train::EpochStats s = t.train_epoch(src, 1);
    double sec = s.seconds;
    comm->allreduce_sum(&sec, 1, "the step times");  // every rank ends each step together: report the mean
    const double step = sec / double(comm->size()) / double(steps);
    const int64_t floats = t.gradient_sync() ? t.gradient_sync()->floats() : net->parameter_count(true);
    const size_t buckets = t.gradient_sync() ? t.gradient_sync()->buckets() : 0;
    const int64_t early = t.gradient_sync() ? t.gradient_sync()->started_during_backward() : 0;
    if (comm->rank() == 0) {
      const char* threads = std::getenv("OMP_NUM_THREADS");
      if (json)
        std::printf("{\"arch\": \"%s\", \"width\": %g, \"input\": %lld, \"ranks\": %d, \"threads_per_rank\": \"%s\", "
                    "\"global_batch\": %lld, \"steps\": %lld, \"step_s\": %.5f, \"images_per_s\": %.2f, "
                    "\"allreduce_floats\": %lld, \"buckets\": %zu, \"buckets_started_in_backward\": %lld, \"sync_bn\": %s}\n",
                    arch.c_str(), width, static_cast<long long>(input), comm->size(), threads ? threads : "",
                    static_cast<long long>(batch), static_cast<long long>(steps), step, double(batch) / step,
                    static_cast<long long>(floats), buckets, static_cast<long long>(early), sync_bn ? "true" : "false");
      else
        std::printf("%s width %g input %lld, %d rank(s) x %s thread(s), global batch %lld: %.4f s/step, %.1f img/s; "
                    "%lld gradient floats (%.1f MB) summed per step in %zu bucket(s)%s\n",
                    arch.c_str(), width, static_cast<long long>(input), comm->size(), threads ? threads : "?",
                    static_cast<long long>(batch), step, double(batch) / step, static_cast<long long>(floats),
                    double(floats) * 4e-6, buckets, sync_bn ? ", BatchNorm synchronised" : "");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graft-bench-dist: rank %d: %s\n", comm->rank(), e.what());
    comm->abort(1);
    return 1;
  }
  return 0;
}
