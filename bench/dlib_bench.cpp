// graft-bench-dlib: dlib's own forward of its face ResNet, the peer of
// `graft-bench --net dlib-face --mode forward` (bench/compare_torch.py compare --dlib runs it
// interleaved with graft and PyTorch).
//
//   graft-bench-dlib [--weights MODEL.dat | --random] [--batch 16] [--warmup 2] [--reps 5]
//                    [--gflop G] [--seed 1] [--json]
//
// Built only where pkg-config finds Debian's libdlib-dev (dlib-1); the network type is the
// [dlib] tests' oracle::net_type (tests/dlib/dlib_net_type.hpp). The weights are dlib's
// model file (--weights, else graft's cache: $GRAFT_DLIB_MODEL or ~/.cache/graft/dlib/, where
// cmake/fetch-dlib-model.sh puts it); --random runs dlib's default initialisation instead.
// Timed: `net(chips, batch)` on a batch of random 150x150 RGB chips, dlib's API for
// descriptors (the chips' conversion to a tensor included, about 0.1 % of the time), and
// apart from it net.forward() of the converted tensor (ms_tensor_forward). Every number is
// the median of --reps timed repetitions after --warmup untimed ones.
//
// Threads: dlib's CPU layers are single-threaded loops around BLAS sgemm (the convolutions
// are img2col + sgemm); Debian's libdlib links libblas.so.3, which the alternatives system
// points at OpenBLAS (pthreads) on this machine. OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS)
// sets its threads; "threads" in the output is what OpenBLAS reports using.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <dlib/revision.h>

#include "dlib_net_type.hpp"
#include "graft/nn/dlib_model_path.hpp"
#include "json.hpp"

namespace {

struct Options {
  std::string weights;
  bool random = false, json = false;
  long batch = 16;
  int warmup = 2, reps = 5;
  double gflop = 0;  // per image, for "gflops" (0: not known)
  unsigned seed = 1;
};

void usage(FILE* f) {
  std::fprintf(f,
               "usage: graft-bench-dlib [--weights MODEL.dat | --random] [--batch 16] [--warmup 2] [--reps 5]\n"
               "                        [--gflop G] [--seed 1] [--json]\n"
               "  dlib's forward of its face ResNet, net(chips, batch), on random 150x150 chips;\n"
               "  the weights: --weights, else $GRAFT_DLIB_MODEL or graft's cache; threads: OPENBLAS_NUM_THREADS.\n");
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <class F>
std::vector<double> time_reps(int warmup, int reps, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    f();
    s.push_back(now() - t0);
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// What OpenBLAS says about itself, looked up at run time (libblas.so.3 may be another BLAS).
std::string blas_config(int& threads) {
  threads = 0;
  auto get_threads = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto get_config = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  auto get_core = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!get_threads) return "not OpenBLAS (libblas.so.3 has no openblas_get_num_threads)";
  threads = get_threads();
  std::string s = "OpenBLAS";
  if (get_config) s += std::string(" ") + get_config();
  if (get_core) s += std::string(" core ") + get_core();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "graft-bench-dlib: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--weights") o.weights = value(i);
    else if (a == "--random") o.random = true;
    else if (a == "--batch") o.batch = std::atol(value(i).c_str());
    else if (a == "--warmup") o.warmup = std::atoi(value(i).c_str());
    else if (a == "--reps") o.reps = std::atoi(value(i).c_str());
    else if (a == "--gflop") o.gflop = std::atof(value(i).c_str());
    else if (a == "--seed") o.seed = unsigned(std::strtoul(value(i).c_str(), nullptr, 10));
    else if (a == "--json") o.json = true;
    else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
    else {
      std::fprintf(stderr, "graft-bench-dlib: unknown argument %s\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (o.batch < 1 || o.reps < 1 || o.warmup < 0 || (o.random && !o.weights.empty())) {
    std::fprintf(stderr, "graft-bench-dlib: bad arguments (--batch, --reps >= 1; --random or --weights, not both)\n");
    return 2;
  }
  if (!o.random && o.weights.empty()) {
    o.weights = graft::nn::dlib_face_model_path();
    if (o.weights.empty()) {
      std::fprintf(stderr,
                   "graft-bench-dlib: no dlib model file: give --weights dlib_face_recognition_resnet_model_v1.dat, "
                   "set GRAFT_DLIB_MODEL, run cmake/fetch-dlib-model.sh (graft's cache), or --random\n");
      return 1;
    }
  }
  try {
    oracle::net_type net;
    if (!o.random) dlib::deserialize(o.weights) >> net;

    std::mt19937 rng(o.seed);
    std::uniform_int_distribution<int> pixel(0, 255);
    std::vector<dlib::matrix<dlib::rgb_pixel>> chips(static_cast<size_t>(o.batch));
    for (auto& c : chips) {
      c.set_size(150, 150);
      for (long r = 0; r < 150; ++r)
        for (long k = 0; k < 150; ++k)
          c(r, k) = dlib::rgb_pixel((unsigned char)pixel(rng), (unsigned char)pixel(rng), (unsigned char)pixel(rng));
    }
    std::vector<dlib::matrix<float, 0, 1>> out;
    const auto secs = time_reps(o.warmup, o.reps, [&] { out = net(chips, size_t(o.batch)); });
    for (const auto& d : out)
      for (long k = 0; k < d.size(); ++k)
        if (!std::isfinite(d(k))) throw std::runtime_error("a descriptor is not finite");
    if (out.size() != size_t(o.batch) || out[0].size() != 128) throw std::runtime_error("unexpected output shape");

    dlib::resizable_tensor x;
    net.to_tensor(chips.begin(), chips.end(), x);
    const auto tsecs = time_reps(o.warmup > 0 ? 1 : 0, o.reps, [&] { net.forward(x); });

    int threads = 0;
    const std::string blas = blas_config(threads);
    const double med = median(secs);
    graft::bench::Json j;
    j.str("peer", "dlib");
    j.str("dlib", std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
                      std::to_string(DLIB_PATCH_VERSION));
    j.str("blas", blas);
    j.num("threads", threads);
    j.str("device", "cpu");
    j.str("mode", "forward");
    j.str("net", "dlib-face");
    j.num("size", 150);
    j.num("batch", double(o.batch));
    j.str("weights", o.random ? "random" : o.weights);
    j.num("gflop_per_image", o.gflop);
    j.num("images_per_second", med > 0 ? double(o.batch) / med : 0);
    j.num("ms_per_batch", med * 1e3);
    j.num("ms_min", *std::min_element(secs.begin(), secs.end()) * 1e3);
    j.list("ms_reps", secs, 1e3);
    j.num("gflops", med > 0 ? o.gflop * double(o.batch) / med : 0);
    j.num("ms_tensor_forward", median(tsecs) * 1e3);
    j.num("warmup", o.warmup);
    j.num("reps", o.reps);
    const char* ob = std::getenv("OPENBLAS_NUM_THREADS");
    const char* omp = std::getenv("OMP_NUM_THREADS");
    j.str("OPENBLAS_NUM_THREADS", ob ? ob : "");
    j.str("OMP_NUM_THREADS", omp ? omp : "");
    if (o.json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      for (auto& kv : j.items()) std::printf("%-28s %s\n", kv.first.c_str(), kv.second.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graft-bench-dlib: %s\n", e.what());
    return 1;
  }
}
