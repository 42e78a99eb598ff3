// graft-bench: times graft's networks and layers on a device.
//
//   graft-bench --net vgg16|resnet50 --size 224 --batch 8 --mode forward|train|head --device cpu|cuda --json
//   graft-bench --net dlib-face --batch 16 --mode train [--learn-from level4_b1_conv1] [--weights MODEL.dat]
//   graft-bench --layers            per-layer table: forward, backward-data, backward-filter
//   graft-bench --quick             a tiny run of every mode (CI: proves it works, times nothing)
//
// Numbers are medians of --reps timed repetitions after --warmup untimed ones. A number
// means something only next to a peer measured in the same run (bench/compare_torch.py).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "graft/cpu.hpp"
#include "bench_core.hpp"
#include "cpu_traits.hpp"
#include "report.hpp"

using namespace graft;
using namespace graft::bench;

#if defined(GRAFT_BENCH_CUDA)
namespace graft {
namespace bench {
int run_cuda(const Options& o);  // graft_bench_cuda.cu
}
}  // namespace graft
#endif

namespace {

void usage(FILE* f) {
  std::fprintf(f,
      "usage: graft-bench [--net vgg16|resnet18|resnet34|resnet50|dlib-face] [--size 224] [--batch 8]\n"
      "                   [--mode forward|train|head] [--device cpu|cuda] [--json] [--layers] [--quick]\n"
      "                   [--learn-from NODE|all] [--weights MODEL.dat] [--save OUT.npz]\n"
      "                   [--width 1.0] [--classes 2] [--warmup 2] [--reps 5] [--peak GFLOPS]\n"
      "                   [--conv auto|im2col|winograd] [--images 4400] [--epochs 10]\n"
      "                   [--uncached-epochs K] [--layer NAME]\n"
      "  forward: inference of one batch; train: forward + backward + Adam step;\n"
      "  head: the fc8-only stage for --epochs epochs over --images images, with the feature\n"
      "  cache and recomputing the trunk (--uncached-epochs K runs only K of the latter and\n"
      "  extrapolates); --layers: every conv and fc shape, each pass and implementation;\n"
      "  --width 0.25 --size 64: the reduced VGG16 geometry.\n"
      "  dlib-face: dlib's face ResNet (150x150, --size defaults to 150) with a Linear \"head\" of\n"
      "  --classes outputs on its 128-d descriptor; random weights unless --weights names dlib's\n"
      "  .dat (speed does not depend on them). train: --learn-from NODE freezes everything, then\n"
      "  lets NODE and the later nodes learn (dlib-face default level4_b1_conv1, the top two\n"
      "  levels; other nets: all). --save OUT.npz (forward): weights, input and output, for a\n"
      "  peer's check (compare_torch.py check).\n");
}

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "graft-bench: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--net") o.net = value(i);
    else if (a == "--size") { o.size = std::atoll(value(i).c_str()); o.size_given = true; }
    else if (a == "--batch") o.batch = std::atoll(value(i).c_str());
    else if (a == "--mode") o.mode = value(i);
    else if (a == "--device") o.device = value(i);
    else if (a == "--json") o.json = true;
    else if (a == "--layers") o.layers = true;
    else if (a == "--quick") o.quick = true;
    else if (a == "--width") o.width = std::atof(value(i).c_str());
    else if (a == "--classes") o.classes = std::atoll(value(i).c_str());
    else if (a == "--warmup") o.warmup = std::atoi(value(i).c_str());
    else if (a == "--reps") o.reps = std::atoi(value(i).c_str());
    else if (a == "--peak") o.peak = std::atof(value(i).c_str());
    else if (a == "--conv") { o.conv_impl = value(i); if (o.conv_impl == "auto") o.conv_impl.clear(); }
    else if (a == "--layer") { o.only_layer = value(i); o.layers = true; }
    else if (a == "--images") o.images = std::atoll(value(i).c_str());
    else if (a == "--epochs") o.epochs = std::atoi(value(i).c_str());
    else if (a == "--uncached-epochs") o.uncached_epochs = std::atoi(value(i).c_str());
    else if (a == "--learn-from") o.learn_from = value(i);
    else if (a == "--weights") o.weights = value(i);
    else if (a == "--save") o.save = value(i);
    else if (a == "--seed") o.seed = std::strtoull(value(i).c_str(), nullptr, 10);
    else if (a == "-h" || a == "--help") { usage(stdout); std::exit(0); }
    else {
      std::fprintf(stderr, "graft-bench: unknown argument %s\n", a.c_str());
      usage(stderr);
      std::exit(2);
    }
  }
  if (o.net == "dlib-face" && !o.size_given) o.size = 150;
  if (o.mode != "forward" && o.mode != "train" && o.mode != "head") {
    std::fprintf(stderr, "graft-bench: --mode must be forward, train or head, got %s\n", o.mode.c_str());
    std::exit(2);
  }
  if (o.size < 32 || o.batch < 1 || o.reps < 1 || o.warmup < 0 || o.images < 1 || o.epochs < 1) {
    std::fprintf(stderr, "graft-bench: bad sizes (--size >= 32, --batch, --reps, --images, --epochs >= 1)\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  try {
    if (o.device == "cuda") {
#if defined(GRAFT_BENCH_CUDA)
      return run_cuda(o);
#else
      std::fprintf(stderr, "graft-bench: built without CUDA (no graft::cuda backend in this build)\n");
      return 3;
#endif
    }
    if (o.device != "cpu") {
      std::fprintf(stderr, "graft-bench: --device must be cpu or cuda, got %s\n", o.device.c_str());
      return 2;
    }
    return o.quick ? quick<CPU>(o) : run<CPU>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graft-bench: %s\n", e.what());
    return 1;
  }
}
