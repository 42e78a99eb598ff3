// bf16 (graft/core/bf16.hpp) and the kernels' bf16 forms, under the host emulator
// (tests/support/cuda_emu.hpp), so they are checked on every machine:
//   - the conversion rounds to nearest even, against an exact reference (the two bf16 values
//     around x, the nearer in double, ties to the even mantissa), with NaN, infinities, zeros,
//     subnormals and overflow;
//   - kernels/convert.cuh equals the host conversion bit for bit, vector and scalar paths;
//   - the ReLU epilogues of a fused convolution (Network::fuse_relu): the bf16 widening with
//     bias and ReLU, bias_relu_rows and relu_inplace, against the host's max(x + b, 0);
//   - the elementwise, layout and max-pooling kernels instantiated for bf16 equal the float
//     kernels (themselves checked against the CPU backend in test_kernels_emu and
//     test_layer_cases_emu) on the same values rounded once to bf16: the tolerance is zero,
//     since each bf16 kernel computes in float and rounds each stored result once.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "graft/core/bf16.hpp"
#include "graft/cpu.hpp"
#include "support/host_buffers.hpp"

#include "support/cuda_emu.hpp"  // after the host headers: it defines CUDA's keywords as macros

#include "kernels/add.cuh"
#include "kernels/bias.cuh"
#include "kernels/convert.cuh"
#include "kernels/layout.cuh"
#include "kernels/pool.cuh"
#include "kernels/relu.cuh"

using namespace graft;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The nearest bf16 by value, computed in double from the two candidates that bracket x
// (truncation, and the next bf16 away from zero), ties to the even one. Infinity counts as
// the value 2^128 for the tie rule (IEEE's overflow threshold), and a finite x rounds to
// infinity exactly when it is nearer 2^128 than the largest finite bf16 or tied with it.
uint16_t nearest_bf16(float x) {
  const uint32_t u = bits_of(x);
  if (std::isnan(x)) return 0x7fc0;  // (only NaN-ness is compared)
  if (std::isinf(x)) return uint16_t(u >> 16);
  const uint16_t lo = uint16_t(u >> 16), hi = uint16_t(lo + 1);  // same sign, next magnitude
  const double mag = std::fabs(double(x));
  const double vlo = std::fabs(double(float_of(uint32_t(lo) << 16)));
  const double vhi = (hi & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128) : std::fabs(double(float_of(uint32_t(hi) << 16)));
  const double dlo = mag - vlo, dhi = vhi - mag;
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

// A buffer of bf16 poisoned with NaN, 32-byte aligned plus `offset` elements.
struct BBuf {
  std::vector<bf16> store;
  bf16* p;
  explicit BBuf(int64_t n, int offset = 0) : store(size_t(n + 32), bf16::from_bits(0x7fc0)) {
    bf16* base = store.data();
    while (reinterpret_cast<uintptr_t>(base) % 32) ++base;
    p = base + offset;
  }
};

// Random values that are exactly bf16 (so the float kernel sees what the bf16 kernel sees).
std::vector<float> bf16_values(int64_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = round_bf16(float(scale * rng.normal()));
  return v;
}

void put(const std::vector<float>& v, bf16* dst) {
  for (size_t i = 0; i < v.size(); ++i) dst[i] = bf16(v[i]);
}

// Every element of got (bf16) has the bits of bf16(want[i]), a NaN matching a NaN.
bool same_bits(const bf16* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const bf16 w(want[i]);
    const bool gn = std::isnan(float(got[i])), wn = std::isnan(float(w));
    if (gn != wn || (!gn && got[i].bits != w.bits)) {
      UNSCOPED_INFO("element " << i << ": got bits " << got[i].bits << " (" << float(got[i]) << "), want "
                               << w.bits << " (" << float(w) << ")");
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("bf16: float -> bf16 rounds to nearest even, against an exact reference", "[emu][bf16]") {
  SECTION("special values") {
    CHECK(bf16(0.0f).bits == 0x0000);
    CHECK(bf16(-0.0f).bits == 0x8000);
    CHECK(bf16(1.0f).bits == 0x3f80);
    CHECK(bf16(-2.0f).bits == 0xc000);
    CHECK(bf16(std::numeric_limits<float>::infinity()).bits == 0x7f80);
    CHECK(bf16(-std::numeric_limits<float>::infinity()).bits == 0xff80);
    const bf16 qnan(std::numeric_limits<float>::quiet_NaN()), snan(float_of(0x7f800001u));
    CHECK(std::isnan(float(qnan)));
    CHECK(std::isnan(float(snan)));  // a signalling NaN whose payload sits in the dropped bits stays NaN
    CHECK((snan.bits & 0x0040) != 0);
    CHECK(bf16(float_of(0xff800001u)).bits >> 15 == 1);  // its sign too
    // ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3*2^-8 to 1 + 2^-6
    CHECK(bf16(1.0f + std::ldexp(1.0f, -8)).bits == 0x3f80);
    CHECK(bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits == 0x3f82);
    // the largest finite float rounds up to infinity; the largest finite bf16 stays
    CHECK(bf16(std::numeric_limits<float>::max()).bits == 0x7f80);
    CHECK(bf16(float_of(0x7f7f0000u)).bits == 0x7f7f);
    CHECK(bf16(float_of(0x7f7f7fffu)).bits == 0x7f7f);
    CHECK(bf16(float_of(0x7f7f8000u)).bits == 0x7f80);  // a tie with an odd mantissa: up, to infinity
    // subnormals are kept: the smallest float subnormal rounds to 0, 2^-133 is a bf16 subnormal
    CHECK(bf16(float_of(0x00000001u)).bits == 0x0000);
    CHECK(bf16(std::ldexp(1.0f, -133)).bits == 0x0001);
    CHECK(float(bf16::from_bits(0x0001)) == std::ldexp(1.0f, -133));
  }
  SECTION("random bit patterns over every exponent, and the bf16 -> float -> bf16 round trip") {
    Rng rng(20261202);
    for (int i = 0; i < 400000; ++i) {
      const uint32_t u = uint32_t(rng.next() >> 32);
      const float x = float_of(u);
      const bf16 b(x);
      if (std::isnan(x)) {
        REQUIRE(std::isnan(float(b)));
        continue;
      }
      INFO("x bits " << u);
      REQUIRE(b.bits == nearest_bf16(x));
      REQUIRE(bf16(float(b)).bits == b.bits);  // widening is exact
    }
  }
  SECTION("values near ties (the dropped 16 bits at 0x7fff, 0x8000, 0x8001)") {
    Rng rng(7);
    for (int i = 0; i < 20000; ++i) {
      const uint32_t top = uint32_t(rng.next() >> 48) & 0x7f7fu;  // finite magnitudes
      for (uint32_t low : {0x7fffu, 0x8000u, 0x8001u}) {
        const float x = float_of((top << 16) | low);
        INFO("x bits " << ((top << 16) | low));
        REQUIRE(bf16(x).bits == nearest_bf16(x));
        REQUIRE(bf16(-x).bits == nearest_bf16(-x));
      }
    }
  }
}

TEST_CASE("emulated kernels: float <-> bf16 conversions equal the host type bit for bit", "[emu][bf16]") {
  for (int64_t n : {1, 7, 64, 1003}) {
    for (int offset : {0, 1}) {  // 1: misaligned, the scalar path
      INFO("n " << n << ", offset " << offset);
      test::Buf<float> x(n, offset);
      Rng rng(uint64_t(n * 10 + offset));
      for (int64_t i = 0; i < n; ++i) x.p[i] = float(rng.normal() * std::ldexp(1.0, int(i % 40) - 20));
      if (n > 3) x.p[3] = std::numeric_limits<float>::quiet_NaN();
      BBuf y(n, offset);
      kernels::to_bf16(n, x.p, y.p, nullptr);
      REQUIRE(same_bits(y.p, x.p, n));
      CHECK(std::isnan(float(y.p[n])));  // nothing written past the end

      test::Buf<float> back(n, offset);
      kernels::from_bf16(n, y.p, back.p, nullptr);
      for (int64_t i = 0; i < n; ++i) {
        const float want = float(y.p[i]);
        REQUIRE(((std::isnan(back.p[i]) && std::isnan(want)) || back.p[i] == want));
      }
      CHECK(std::isnan(back.p[n]));
    }
  }
  SECTION("with a per-channel bias: (n, o, p) planes and channels-last rows") {
    for (int64_t p : {1, 4, 9, 16}) {
      for (int offset : {0, 1}) {
        const int64_t n = 3, o = 5, total = n * o * p;
        INFO("p " << p << ", offset " << offset);
        BBuf x(total, offset);
        put(bf16_values(total, uint64_t(p), 3.0), x.p);
        const std::vector<float> b = bf16_values(o, 99, 1.0);
        test::Buf<float> y(total, offset), yr(total, offset);
        kernels::from_bf16_bias(n, o, p, x.p, b.data(), y.p, nullptr);
        kernels::from_bf16_bias_rows(n * p, o, x.p, b.data(), yr.p, nullptr);
        for (int64_t e = 0; e < total; ++e) {
          REQUIRE(y.p[e] == float(x.p[e]) + b[size_t((e / p) % o)]);
          REQUIRE(yr.p[e] == float(x.p[e]) + b[size_t(e % o)]);
        }
        CHECK(std::isnan(y.p[total]));
        CHECK(std::isnan(yr.p[total]));
      }
    }
  }
}

TEST_CASE("emulated kernels: bf16 forms of ReLU, sums, bias, layout and max pooling round once", "[emu][bf16]") {
  const int64_t n = 2, c = 6, h = 8, w = 8, total = n * c * h * w;
  const std::vector<float> a = bf16_values(total, 1, 2.0), b = bf16_values(total, 2, 2.0),
                           bias = bf16_values(c, 3, 1.0);
  for (int offset : {0, 1}) {
    INFO("offset " << offset);
    BBuf ab(total, offset), bb(total, offset), cb(total, offset), biasb(c);
    put(a, ab.p);
    put(b, bb.p);
    put(bias, biasb.p);
    test::Buf<float> af(total, offset), bf(total, offset), want(total, offset);
    std::copy(a.begin(), a.end(), af.p);
    std::copy(b.begin(), b.end(), bf.p);

    // the float kernel's result, then the bf16 kernel's, which must be its rounding
    auto check = [&](const char* what, auto run_float, auto run_bf16, int64_t count) {
      INFO(what);
      run_float();
      run_bf16();
      CHECK(same_bits(cb.p, want.p, count));
    };
    check("relu forward", [&] { kernels::relu_forward<float>(total, af.p, want.p, nullptr); },
          [&] { kernels::relu_forward<bf16>(total, ab.p, cb.p, nullptr); }, total);
    check("relu backward", [&] { kernels::relu_backward<float>(total, af.p, bf.p, want.p, nullptr); },
          [&] { kernels::relu_backward<bf16>(total, ab.p, bb.p, cb.p, nullptr); }, total);
    check("add", [&] { kernels::add<float>(total, af.p, bf.p, want.p, nullptr); },
          [&] { kernels::add<bf16>(total, ab.p, bb.p, cb.p, nullptr); }, total);
    check("add_relu", [&] { kernels::add_relu<float>(total, af.p, bf.p, want.p, nullptr); },
          [&] { kernels::add_relu<bf16>(total, ab.p, bb.p, cb.p, nullptr); }, total);
    check("accumulate",
          [&] {
            std::copy(b.begin(), b.end(), want.p);
            kernels::accumulate<float>(total, af.p, want.p, nullptr);
          },
          [&] {
            put(b, cb.p);
            kernels::accumulate<bf16>(total, ab.p, cb.p, nullptr);
          },
          total);
    check("bias_relu (n, c, h*w)",
          [&] {
            std::copy(a.begin(), a.end(), want.p);
            kernels::bias_relu<float>(n, c, h * w, want.p, bias.data(), nullptr);
          },
          [&] {
            put(a, cb.p);
            kernels::bias_relu<bf16>(n, c, h * w, cb.p, biasb.p, nullptr);
          },
          total);
    check("bias_add_rows (n*h*w, c)",
          [&] {
            std::copy(a.begin(), a.end(), want.p);
            kernels::bias_add_rows<float>(n * h * w, c, want.p, bias.data(), nullptr);
          },
          [&] {
            put(a, cb.p);
            kernels::bias_add_rows<bf16>(n * h * w, c, cb.p, biasb.p, nullptr);
          },
          total);
    check("nchw_to_nhwc", [&] { kernels::nchw_to_nhwc<float>(n, c, h * w, af.p, want.p, nullptr); },
          [&] { kernels::nchw_to_nhwc<bf16>(n, c, h * w, ab.p, cb.p, nullptr); }, total);
    check("nhwc_to_nchw", [&] { kernels::nhwc_to_nchw<float>(n, c, h * w, af.p, want.p, nullptr); },
          [&] { kernels::nhwc_to_nchw<bf16>(n, c, h * w, ab.p, cb.p, nullptr); }, total);

    for (bool nhwc : {false, true}) {  // VGG's 2x2/2 max pooling, both layouts
      INFO((nhwc ? "NHWC" : "NCHW") << " max pooling");
      kernels::PoolShape s;
      s.planes = n * c;
      s.h = h;
      s.w = w;
      s.oh = h / 2;
      s.ow = w / 2;
      s.kh = s.kw = s.sh = s.sw = 2;
      s.c = int(c);
      s.channels_last = nhwc;
      const int64_t out = n * c * s.oh * s.ow;
      check("maxpool forward", [&] { kernels::maxpool_forward<float>(s, af.p, want.p, nullptr); },
            [&] { kernels::maxpool_forward<bf16>(s, ab.p, cb.p, nullptr); }, out);
      check("maxpool backward", [&] { kernels::maxpool_backward<float>(s, af.p, bf.p, want.p, nullptr); },
            [&] { kernels::maxpool_backward<bf16>(s, ab.p, bb.p, cb.p, nullptr); }, total);
    }
  }
}

TEST_CASE("emulated kernels: the ReLU epilogues (bf16 widening, bias_relu_rows, relu_inplace)", "[emu][bf16]") {
  const int64_t n = 3, o = 8, p = 12, total = n * o * p;
  const std::vector<float> v = bf16_values(total, 21, 2.0), bias = bf16_values(o, 22, 1.0);
  auto relu = [](float a) { return a > 0.0f ? a : 0.0f; };
  for (int offset : {0, 1}) {
    INFO("offset " << offset);
    BBuf x(total, offset);
    put(v, x.p);
    test::Buf<float> y(total, offset), yr(total, offset), yn(total, offset), f(total, offset), g(total, offset);
    kernels::from_bf16_bias(n, o, p, x.p, bias.data(), y.p, nullptr, true);
    kernels::from_bf16_bias_rows(n * p, o, x.p, bias.data(), yr.p, nullptr, true);
    kernels::from_bf16(total, x.p, yn.p, nullptr, true);
    std::copy(v.begin(), v.end(), f.p);
    kernels::bias_relu_rows<float>(n * p, o, f.p, bias.data(), nullptr);
    std::copy(v.begin(), v.end(), g.p);
    g.p[5] = std::numeric_limits<float>::quiet_NaN();  // NaN gives 0, as the ReLU layer's rule
    kernels::relu_inplace<float>(total, g.p, nullptr);
    for (int64_t e = 0; e < total; ++e) {
      INFO("element " << e);
      REQUIRE(y.p[e] == relu(v[size_t(e)] + bias[size_t((e / p) % o)]));
      REQUIRE(yr.p[e] == relu(v[size_t(e)] + bias[size_t(e % o)]));
      REQUIRE(f.p[e] == relu(v[size_t(e)] + bias[size_t(e % o)]));
      REQUIRE(yn.p[e] == relu(v[size_t(e)]));
      REQUIRE(g.p[e] == (e == 5 ? 0.0f : relu(v[size_t(e)])));
    }
    CHECK(std::isnan(y.p[total]));
    CHECK(std::isnan(f.p[total]));
    CHECK(std::isnan(g.p[total]));
  }
}
