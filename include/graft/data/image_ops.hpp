// Geometric operations on RGB images: resize (stb_image_resize), crops and horizontal flip.
//
// Resizing uses stb_image_resize's separable filters on the 8-bit values as they are
// (no sRGB linearisation, as PIL and torchvision do), with the edge pixels replicated.
// Filter::Default is stb's own choice and graft's: Catmull-Rom (an interpolating cubic)
// when enlarging, Mitchell-Netravali when shrinking; both are sharper than bilinear and
// do not ring much.
//
// resize_region() computes only a window of the resized image, so "resize to 256, then
// crop 224" costs a 224x224 resample instead of a 256x256 one plus a copy; the result is
// bit-identical to resizing whole and cropping (tests check it). Scaling to the image's own
// size is the identity (no filtering), as in PIL.
#pragma once

#include <stb_image_resize.h>

#include <algorithm>
#include <cstring>

#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/data/image.hpp"

namespace graft {
namespace data {

enum class Filter { Default, Box, Triangle, CubicBSpline, CatmullRom, Mitchell };
static_assert(int(Filter::Default) == STBIR_FILTER_DEFAULT && int(Filter::Box) == STBIR_FILTER_BOX &&
                  int(Filter::Triangle) == STBIR_FILTER_TRIANGLE &&
                  int(Filter::CubicBSpline) == STBIR_FILTER_CUBICBSPLINE &&
                  int(Filter::CatmullRom) == STBIR_FILTER_CATMULLROM && int(Filter::Mitchell) == STBIR_FILTER_MITCHELL,
              "graft::data::Filter must follow stb_image_resize's stbir_filter");

inline const char* filter_name(Filter f) {
  switch (f) {
    case Filter::Default: return "default (Catmull-Rom up, Mitchell down)";
    case Filter::Box: return "box";
    case Filter::Triangle: return "triangle";
    case Filter::CubicBSpline: return "cubic B-spline";
    case Filter::CatmullRom: return "Catmull-Rom";
    case Filter::Mitchell: return "Mitchell";
  }
  return "?";
}

struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size& o) const { return width == o.width && height == o.height; }
};

// The size with the shorter side equal to `shorter` and the other in proportion, truncated
// toward zero as torchvision's Resize(int) does (333x200 -> 426x256).
inline Size shorter_side_size(int width, int height, int shorter) {
  GRAFT_CHECK(width > 0 && height > 0, "cannot resize an empty image (", width, "x", height, ")");
  GRAFT_CHECK(shorter > 0, "resize: the shorter side must be positive, got ", shorter);
  if (width <= height)
    return {shorter, static_cast<int>(int64_t(shorter) * height / width)};
  return {static_cast<int>(int64_t(shorter) * width / height), shorter};
}

// Copies the w x h window of `in` at (x0, y0) into `out`.
inline void crop(const Image& in, int x0, int y0, int w, int h, Image& out) {
  GRAFT_CHECK(&in != &out, "crop: input and output must be different images");
  GRAFT_CHECK(w > 0 && h > 0 && x0 >= 0 && y0 >= 0 && x0 + w <= in.width && y0 + h <= in.height,
              "crop of ", w, "x", h, " at (", x0, ", ", y0, ") does not fit in an image of ", in.width, "x",
              in.height);
  out.resize(w, h);
  for (int y = 0; y < h; ++y) std::memcpy(out.pixel(0, y), in.pixel(x0, y0 + y), size_t(w) * 3);
}

// Resamples `in` as if scaled to scaled_w x scaled_h, writing only the out_w x out_h window
// that starts at (x0, y0) of the scaled image.
inline void resize_region(const Image& in, int scaled_w, int scaled_h, int x0, int y0, int out_w,
                          int out_h, Filter filter, Image& out) {
  GRAFT_CHECK(&in != &out, "resize: input and output must be different images");
  GRAFT_CHECK(!in.empty(), "cannot resize an empty image (", in.width, "x", in.height, ")");
  GRAFT_CHECK(scaled_w > 0 && scaled_h > 0 && out_w > 0 && out_h > 0 && x0 >= 0 && y0 >= 0 &&
                  x0 + out_w <= scaled_w && y0 + out_h <= scaled_h,
              "resize: window ", out_w, "x", out_h, " at (", x0, ", ", y0, ") does not fit in ", scaled_w, "x",
              scaled_h);
  if (scaled_w == in.width && scaled_h == in.height) {
    crop(in, x0, y0, out_w, out_h, out);
    return;
  }
  out.resize(out_w, out_h);
  const auto f = static_cast<stbir_filter>(filter);  // the enumerators follow stb's order
  // The scale is computed as stb's whole-image resize computes it, so that a window equals
  // the same pixels of a whole resize bit for bit.
  int ok = stbir_resize_subpixel(in.rgb.data(), in.width, in.height, 0, out.rgb.data(), out_w, out_h, 0,
                                 STBIR_TYPE_UINT8, 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                 STBIR_EDGE_CLAMP, f, f, STBIR_COLORSPACE_LINEAR, nullptr,
                                 static_cast<float>(scaled_w) / static_cast<float>(in.width),
                                 static_cast<float>(scaled_h) / static_cast<float>(in.height),
                                 static_cast<float>(x0), static_cast<float>(y0));
  GRAFT_CHECK(ok, "resize of ", in.width, "x", in.height, " to ", scaled_w, "x", scaled_h,
              " failed (stb_image_resize could not allocate its buffers)");
}

inline void resize(const Image& in, int width, int height, Image& out, Filter filter = Filter::Default) {
  resize_region(in, width, height, 0, 0, width, height, filter, out);
}

inline void resize_shorter(const Image& in, int shorter, Image& out, Filter filter = Filter::Default) {
  Size s = shorter_side_size(in.width, in.height, shorter);
  resize(in, s.width, s.height, out, filter);
}

// The window's origin: centred (rounded toward the top left), or uniform over all windows
// that fit. random_crop_origin draws exactly two numbers (x, then y) from `rng`.
inline void check_crop_fits(int width, int height, int w, int h) {
  GRAFT_CHECK(w > 0 && h > 0, "crop size must be positive, got ", w, "x", h);
  GRAFT_CHECK(w <= width && h <= height, "crop of ", w, "x", h, " is larger than the image (", width, "x",
              height, ")");
}
inline void center_crop_origin(int width, int height, int w, int h, int& x0, int& y0) {
  check_crop_fits(width, height, w, h);
  x0 = (width - w) / 2;
  y0 = (height - h) / 2;
}
inline void random_crop_origin(int width, int height, int w, int h, Rng& rng, int& x0, int& y0) {
  check_crop_fits(width, height, w, h);
  x0 = static_cast<int>(rng.below(uint64_t(width - w) + 1));
  y0 = static_cast<int>(rng.below(uint64_t(height - h) + 1));
}

inline void center_crop(const Image& in, int w, int h, Image& out) {
  int x0, y0;
  center_crop_origin(in.width, in.height, w, h, x0, y0);
  crop(in, x0, y0, w, h, out);
}
inline void random_crop(const Image& in, int w, int h, Rng& rng, Image& out) {
  int x0, y0;
  random_crop_origin(in.width, in.height, w, h, rng, x0, y0);
  crop(in, x0, y0, w, h, out);
}

// Mirrors left and right, in place.
inline void hflip(Image& img) {
  if (img.width < 2) return;
  for (int y = 0; y < img.height; ++y) {
    uint8_t* l = img.pixel(0, y);
    uint8_t* r = img.pixel(img.width - 1, y);
    for (; l < r; l += 3, r -= 3) {
      std::swap(l[0], r[0]);
      std::swap(l[1], r[1]);
      std::swap(l[2], r[2]);
    }
  }
}

}  // namespace data
}  // namespace graft
