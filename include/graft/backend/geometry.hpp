// The geometry of a 2-d convolution or pooling over an NCHW batch, shared by the layers
// and by every backend so that all of them agree on output sizes.
#pragma once

#include <cstdint>
#include <string>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"

namespace graft {

struct Window2d {
  int kh = 1, kw = 1;  // kernel
  int sh = 1, sw = 1;  // stride
  int ph = 0, pw = 0;  // zero (conv) or -inf (pool) padding on each side
  bool ceil_mode = false;  // Caffe's pooling rounds the output size up; convolution never does

  // Output size along one axis; <= 0 means the input is too small for the window.
  static int64_t out_size(int64_t in, int k, int s, int p, bool ceil_mode) {
    int64_t span = in + 2 * p - k;
    if (span < 0) return 0;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // Caffe: the last window must start inside the (unpadded-right) input.
    if (ceil_mode && p > 0 && (o - 1) * s >= in + p) --o;
    return o;
  }
  int64_t out_h(int64_t h) const { return out_size(h, kh, sh, ph, ceil_mode); }
  int64_t out_w(int64_t w) const { return out_size(w, kw, sw, pw, ceil_mode); }

  std::string str() const {
    return std::to_string(kh) + "x" + std::to_string(kw) + " stride " + std::to_string(sh) +
           "x" + std::to_string(sw) + " pad " + std::to_string(ph) + "x" + std::to_string(pw);
  }
};

// What a pooling window reduces to. Max: the first maximum (padding is -infinity). Average:
// the window's sum over a divisor, PyTorch's rule: the window clipped to the padded input
// (a ceil-mode window may run past it) counts its padding (AvgCountPad, count_include_pad)
// or only the input elements it covers (AvgNoPad).
enum class PoolMode { Max, AvgCountPad, AvgNoPad };
inline const char* to_string(PoolMode m) {
  return m == PoolMode::Max ? "max" : m == PoolMode::AvgCountPad ? "average (padding counted)" : "average";
}

// A convolution or pooling of an (n, c, h, w) batch into (n, o, oh, ow).
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t o = 0, oh = 0, ow = 0;       // output channels and size
  Window2d win;

  int64_t kernel_volume() const { return c * win.kh * win.kw; }  // one output's inputs
  int64_t in_plane() const { return h * w; }
  int64_t out_plane() const { return oh * ow; }
  // 2 * multiply-adds of the forward pass (the FLOP count benchmarks report)
  double forward_flops() const {
    return 2.0 * double(n) * double(o) * double(out_plane()) * double(kernel_volume());
  }
  bool operator==(const ConvGeometry& g) const {
    return n == g.n && c == g.c && h == g.h && w == g.w && o == g.o && oh == g.oh &&
           ow == g.ow && win.kh == g.win.kh && win.kw == g.win.kw && win.sh == g.win.sh &&
           win.sw == g.win.sw && win.ph == g.win.ph && win.pw == g.win.pw &&
           win.ceil_mode == g.win.ceil_mode;
  }
};

// A per-channel layer's view of its input (Affine, BatchNorm2d): n images, c channels, p
// values per channel and image; rank 2 (n, C) has p = 1, rank 4 (n, C, H, W) has p = H * W.
struct ChannelDims {
  int64_t n = 0, c = 0, p = 1;
};
inline ChannelDims channel_dims(const Shape& s) {
  ChannelDims d;
  d.n = s.rank() > 0 ? s[0] : 0;
  d.c = s.rank() > 1 ? s[1] : 1;
  for (int i = 2; i < s.rank(); ++i) d.p *= s[i];
  return d;
}

}  // namespace graft
