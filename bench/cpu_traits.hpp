// BenchTraits<CPU>: what graft-bench needs to know of the host backend.
#pragma once

#include <omp.h>

#include <string>
#include <vector>

#include "bench_core.hpp"
#include "graft/cpu.hpp"

namespace graft {
namespace bench {

template <>
struct BenchTraits<CPU> {
  static void sync(Context<CPU>&) {}

  static std::string describe() {
    return std::string("cpu, ") + std::to_string(Context<CPU>::threads()) + " threads, GEMM " +
           cpu::gemm_library();
  }

  // The fp32 FMA peak of both threads with the vector width this program was compiled for:
  // independent multiply-adds on 12 accumulators (enough to hide the FMA latency on two
  // pipes), best of a few tries. GFLOP/s, FLOP = 2 per multiply-add.
  static double measure_peak() {
#if defined(__AVX512F__)
    typedef float vec __attribute__((vector_size(64)));
#elif defined(__AVX__)
    typedef float vec __attribute__((vector_size(32)));
#else
    typedef float vec __attribute__((vector_size(16)));
#endif
    constexpr int lanes = sizeof(vec) / sizeof(float), acc = 12;
    const long iters = 20000000;
    double best = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {
      double flops = 0;
      const double t0 = now_seconds();
#pragma omp parallel reduction(+ : flops)
      {
        vec a[acc], m, c;
        for (int l = 0; l < lanes; ++l) {
          m[l] = 0.999999f;
          c[l] = 1e-6f;
        }
        for (int k = 0; k < acc; ++k) a[k] = c * float(k + omp_get_thread_num());
        for (long i = 0; i < iters; ++i) {
          for (int k = 0; k < acc; ++k) a[k] = a[k] * m + c;
          asm volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]));  // keep the loop
        }
        float s = 0;
        for (int k = 0; k < acc; ++k) s += a[k][0];
        flops += 2.0 * lanes * acc * double(iters) + (s == 12345.f ? 1 : 0);
      }
      best = std::max(best, flops / (now_seconds() - t0) / 1e9);
    }
    return best;
  }
};

}  // namespace bench
}  // namespace graft
