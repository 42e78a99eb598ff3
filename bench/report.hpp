// Printing graft-bench's results (JSON or a table) and running one configuration on a
// device; shared by the host program and the CUDA translation unit.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "bench_core.hpp"

namespace graft {
namespace bench {

inline void print_result(const Options& o, const Json& j) {
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  for (auto& kv : j.items()) std::printf("%-28s %s\n", kv.first.c_str(), kv.second.c_str());
}

inline void print_layers(const Options& o, const std::vector<LayerRow>& rows, double peak) {
  if (o.json) {
    std::string s = "[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      Json j;
      j.str("layer", r.layer);
      j.str("shape", r.shape);
      j.str("impl", r.impl);
      j.str("pass", r.pass);
      j.num("gflop", r.gflop);
      j.num("ms", r.ms);
      j.num("gflops", r.ms > 0 ? r.gflop / r.ms * 1e3 : 0);
      j.num("fraction_of_peak", peak > 0 && r.ms > 0 ? r.gflop / r.ms * 1e3 / peak : 0);
      s += (i ? ", " : "") + j.dump();
    }
    Json out;
    out.str("device", o.device);
    out.num("batch", double(o.batch));
    out.num("size", double(o.size));
    out.num("peak_gflops", peak);
    out.raw("layers", s + "]");
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("per-layer, batch %lld, input %lldx%lld, peak %.1f GFLOP/s (FLOP = 2 MAC; fraction = achieved / peak)\n",
              (long long)o.batch, (long long)o.size, (long long)o.size, peak);
  int wl = 8;  // the widest node name (ResNets' are dotted paths)
  for (const auto& r : rows) wl = std::max(wl, int(r.layer.size()));
  std::printf("%-*s %-20s %-9s %-16s %8s %9s %9s %7s\n", wl, "layer", "shape", "impl", "pass", "GFLOP",
              "ms", "GFLOP/s", "peak");
  for (const auto& r : rows) {
    const double gf = r.ms > 0 ? r.gflop / r.ms * 1e3 : 0;
    char frac[16] = "      -";
    if (peak > 0) std::snprintf(frac, sizeof frac, "%6.1f%%", 100 * gf / peak);
    std::printf("%-*s %-20s %-9s %-16s %8.2f %9.2f %9.1f %s\n", wl, r.layer.c_str(), r.shape.c_str(),
                r.impl.c_str(), r.pass.c_str(), r.gflop, r.ms, gf, frac);
  }
}

template <class D>
int run(Options o) {
  if (o.layers) {
    const double peak = o.peak > 0 ? o.peak : o.peak < 0 ? 0 : BenchTraits<D>::measure_peak();
    print_layers(o, run_layers<D>(o), peak);
    return 0;
  }
  Json j = o.mode == "head" ? run_head<D>(o) : run_network<D>(o);
  j.str("backend", BenchTraits<D>::describe());
  j.str("conv", o.conv_impl.empty() ? "auto" : o.conv_impl);
  print_result(o, j);
  return 0;
}

// A tiny run of every mode and of the layer table: proves graft-bench works (CI). It times
// nothing worth reading; each run still checks that its outputs are finite.
// --net dlib-face: the net at its only size, batch 1, forward, train and head.
template <class D>
int quick(Options o) {
  auto every_mode = [&] {
    for (const char* m : {"forward", "train", "head"}) {
      o.mode = m;
      if (const int rc = run<D>(o)) return rc;
    }
    return 0;
  };
  if (o.net == "dlib-face") {
    o.batch = 1;
    o.warmup = 0;
    o.reps = 1;
    o.images = 3;
    o.epochs = 2;
    return every_mode();
  }
  o.size = 32;
  o.width = 0.125;
  o.batch = 2;
  o.warmup = 1;
  o.reps = 2;
  o.images = 12;
  o.epochs = 3;
  if (const int rc = every_mode()) return rc;
  o.layers = true;
  if (o.peak <= 0) o.peak = -1;  // no peak measurement in CI: fractions are left out
  return run<D>(o);
}

}  // namespace bench
}  // namespace graft
