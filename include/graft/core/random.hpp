// Counter-based random numbers: value i of stream `seed` is a pure function of (seed, i).
//
// The same function runs on the host and in CUDA kernels, so a dropout mask or an
// initialisation drawn on the GPU equals the one drawn on the CPU, and a stream can be
// resumed from its counter alone (checkpoints store seed and counter).
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/core/device.hpp"

namespace graft {
namespace random {

// SplitMix64's finaliser: a bijective mix with full avalanche.
GRAFT_HD uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

GRAFT_HD uint64_t bits(uint64_t seed, uint64_t index) { return mix64(seed ^ mix64(index)); }

// Uniform in [0, 1) with 24 random bits: exactly representable in float.
GRAFT_HD float uniform(uint64_t seed, uint64_t index) {
  return static_cast<float>(bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller on two 53-bit uniforms.
GRAFT_HD double normal(uint64_t seed, uint64_t index) {
  uint64_t a = bits(seed, 2 * index), b = bits(seed, 2 * index + 1);
  double u1 = (static_cast<double>(a >> 11) + 1.0) * (1.0 / 9007199254740992.0);  // (0, 1]
  double u2 = static_cast<double>(b >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// A stable 64-bit hash of a string (FNV-1a), to derive per-layer seeds from layer names.
inline uint64_t hash(const char* s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
  return h;
}

}  // namespace random

// A stateful stream over the counter-based generator. Its whole state is (seed, counter).
class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t counter = 0) : seed_(seed), counter_(counter) {}
  uint64_t next() { return random::bits(seed_, counter_++); }
  float uniform() { return random::uniform(seed_, counter_++); }
  double normal() { return random::normal(seed_, counter_++); }
  // Uniform integer in [0, n) (n > 0), without modulo bias worth mentioning for n << 2^64.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }

 private:
  uint64_t seed_, counter_;
};

}  // namespace graft
