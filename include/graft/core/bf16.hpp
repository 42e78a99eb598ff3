// graft::bf16: bfloat16 storage (the top 16 bits of an IEEE float32: sign, 8 exponent bits,
// 7 mantissa bits), usable in host code, in CUDA kernels and under the kernel emulator.
//
// It is a storage type, not an arithmetic one: a value converts to float implicitly, float
// converts to bf16 with round-to-nearest-even (what the tensor cores, cuDNN's and cuBLAS's
// bf16 outputs, __float2bfloat16_rn and torch.bfloat16 do), and arithmetic on two bf16s is
// float arithmetic on their values, rounded once when the result is stored back. So a kernel
// templated on T computes in float for T = bf16 and rounds each stored result exactly once,
// and the host can emulate a bf16 kernel bit for bit with the same expression.
//
// The conversion is written with integer operations rather than CUDA's intrinsics so that the
// host, the emulator and the device share one definition (the device's __float2bfloat16_rn
// gives the same bits for every input, NaN aside, whose payload may differ: both give a quiet
// NaN of the input's sign). Overflow rounds to infinity; subnormals are kept (no flush to zero).
#pragma once

#include <cstdint>
#include <cstring>

#include "graft/core/device.hpp"

namespace graft {

struct alignas(2) bf16 {
  uint16_t bits = 0;

  bf16() = default;
  GRAFT_HD bf16(float f) : bits(from_float(f)) {}  // NOLINT: implicit, rounds to nearest even
  GRAFT_HD operator float() const { return to_float(bits); }  // NOLINT: exact
  // In float, rounded once when stored.
  GRAFT_HD bf16& operator+=(float v) { return *this = bf16(float(*this) + v); }
  GRAFT_HD bf16& operator-=(float v) { return *this = bf16(float(*this) - v); }
  GRAFT_HD bf16& operator*=(float v) { return *this = bf16(float(*this) * v); }

  static GRAFT_HD bf16 from_bits(uint16_t b) {
    bf16 r;
    r.bits = b;
    return r;
  }

  static GRAFT_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
#endif
  }
  static GRAFT_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
#endif
  }
  // Round to nearest, ties to even: add just under half an ulp of the 16 dropped bits, plus
  // one when the kept last bit is odd, and truncate. A carry out of the mantissa lands in the
  // exponent, which is right (up to infinity for the largest finite values).
  static GRAFT_HD uint16_t from_float(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN: stays quiet NaN
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  static GRAFT_HD float to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }
};

static_assert(sizeof(bf16) == 2, "bf16 is two bytes");

// x rounded to the nearest bf16, as a float (the host's emulation of a bf16 store).
GRAFT_HD float round_bf16(float x) { return float(bf16(x)); }

}  // namespace graft
