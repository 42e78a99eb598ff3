// From 8-bit RGB pixels (height, width, 3) to the float planes a network reads (3, height,
// width): channel order, scale, mean and standard deviation.
//
// graft's default is VGG-Face's own preprocessing, the one its weights were trained with:
// channels in B, G, R order and the per-channel means (93.5940, 104.7624, 129.1863)
// subtracted from the 0..255 values (no scaling). Feeding RGB with ImageNet statistics
// instead, as the original trainer did, silently costs accuracy. Other models want other
// recipes, so Normalization is a small value type with named factories:
//   out[c] = (pixel[source channel of c] * scale - mean[c]) / stddev[c]
// where mean and stddev are given in output channel order.
#pragma once

#include <array>
#include <cstdint>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/data/image.hpp"

namespace graft {
namespace data {

struct Normalization {
  enum class Order { RGB, BGR };
  Order order = Order::BGR;
  float scale = 1.0f;
  std::array<float, 3> mean{{93.5940f, 104.7624f, 129.1863f}};
  std::array<float, 3> stddev{{1.0f, 1.0f, 1.0f}};

  // VGG-Face (Parkhi et al. 2015; the Caffe model and its caffe-tensorflow conversion).
  static Normalization vgg_face() { return Normalization{}; }
  // Any order/means in 0..255 units, divided by 255 afterwards ("/255 after the mean").
  static Normalization mean_then_255(Order order, std::array<float, 3> mean) {
    return {order, 1.0f, mean, {{255.0f, 255.0f, 255.0f}}};
  }
  // RGB in [0, 1] (torchvision's ToTensor).
  static Normalization unit_range() { return {Order::RGB, 1.0f / 255.0f, {{0, 0, 0}}, {{1, 1, 1}}}; }
  // RGB in [0, 1], then torchvision's ImageNet mean and standard deviation.
  static Normalization imagenet() {
    return {Order::RGB, 1.0f / 255.0f, {{0.485f, 0.456f, 0.406f}}, {{0.229f, 0.224f, 0.225f}}};
  }
  // Raw 0..255 values as floats, RGB.
  static Normalization none() { return {Order::RGB, 1.0f, {{0, 0, 0}}, {{1, 1, 1}}}; }

  void check() const {
    for (int c = 0; c < 3; ++c)
      GRAFT_CHECK(stddev[c] != 0.0f, "normalization: standard deviation of channel ", c, " is zero");
  }
  // The input channel (0 R, 1 G, 2 B) that output channel c reads.
  int source_channel(int c) const { return order == Order::BGR ? 2 - c : c; }

  // The value of every 8-bit input level in each output channel: normalising is then one
  // table read per value. A level 0..255 times 1 minus a float mean is exact, so the VGG-Face
  // table holds exactly float(pixel) - mean.
  std::array<std::array<float, 256>, 3> table() const {
    check();
    std::array<std::array<float, 256>, 3> t;
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) t[c][v] = (static_cast<float>(v) * scale - mean[c]) / stddev[c];
    return t;
  }
};

// Writes the image as 3 planes of height x width floats at `out`, mirrored left-right when
// `flip` is set (flipping here costs nothing: the row is read backwards).
inline void normalize_into(const Image& img, const Normalization& norm, bool flip, float* out) {
  const auto t = norm.table();
  const int w = img.width, h = img.height;
  const size_t plane = size_t(w) * size_t(h);
  for (int c = 0; c < 3; ++c) {
    const float* lut = t[c].data();
    const int src = norm.source_channel(c);
    float* dst = out + size_t(c) * plane;
    for (int y = 0; y < h; ++y) {
      const uint8_t* row = img.pixel(0, y) + src;
      float* o = dst + size_t(y) * w;
      if (flip) {
        for (int x = 0; x < w; ++x) o[x] = lut[row[size_t(w - 1 - x) * 3]];
      } else {
        for (int x = 0; x < w; ++x) o[x] = lut[row[size_t(x) * 3]];
      }
    }
  }
}

// The image as a (1, 3, height, width) tensor; `out` keeps its storage when large enough.
inline void normalize(const Image& img, const Normalization& norm, Tensor<float>& out) {
  out.resize(Shape{1, 3, img.height, img.width});
  normalize_into(img, norm, false, out.data());
}

// VGG-Face preprocessing: RGB -> BGR, minus (93.5940, 104.7624, 129.1863) in B, G, R order,
// NCHW float.
inline void vgg_face_preprocess(const Image& img, Tensor<float>& out) {
  normalize(img, Normalization::vgg_face(), out);
}
inline Tensor<float> vgg_face_preprocess(const Image& img) {
  Tensor<float> t;
  vgg_face_preprocess(img, t);
  return t;
}

}  // namespace data
}  // namespace graft
