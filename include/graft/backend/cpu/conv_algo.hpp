// The convolution algorithms of the host backend, and which applies to which geometry.
//
//   im2col    any geometry: unfold the input, one matrix product (conv.hpp)
//   winograd  3x3, stride 1: Winograd F(2x2, 3x3), 2.25x fewer multiplies (winograd.hpp)
//   winograd4 3x3, stride 1: Winograd F(4x4, 3x3), 4x fewer (winograd4.hpp); its weight
//             gradient is F(2x2, 3x3)'s
//   automatic winograd where it applies, im2col elsewhere (the default of every plan)
#pragma once

#include <string>

#include "graft/backend/geometry.hpp"
#include "graft/core/error.hpp"

namespace graft {
namespace cpu {

enum class ConvAlgo { automatic, im2col, winograd, winograd4 };

inline const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::im2col: return "im2col";
    case ConvAlgo::winograd: return "winograd";
    case ConvAlgo::winograd4: return "winograd4";
    default: return "auto";
  }
}

inline ConvAlgo parse_conv_algo(const std::string& s) {
  if (s == "auto" || s.empty()) return ConvAlgo::automatic;
  if (s == "im2col") return ConvAlgo::im2col;
  if (s == "winograd") return ConvAlgo::winograd;
  if (s == "winograd4") return ConvAlgo::winograd4;
  GRAFT_FAIL("unknown convolution algorithm '", s, "' (known: auto, im2col, winograd, winograd4)");
}

// Winograd F(2x2, 3x3) needs a 3x3 kernel with stride 1; any padding up to 2 works.
inline bool winograd_applies(const ConvGeometry& g) {
  const Window2d& k = g.win;
  return k.kh == 3 && k.kw == 3 && k.sh == 1 && k.sw == 1 && k.ph <= 2 && k.pw <= 2;
}

inline bool conv_algo_applies(ConvAlgo a, const ConvGeometry& g) {
  return (a != ConvAlgo::winograd && a != ConvAlgo::winograd4) || winograd_applies(g);
}

}  // namespace cpu
}  // namespace graft
