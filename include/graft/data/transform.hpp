// Transform: what happens to each image between the file and the batch, in one fixed order:
//   resize (shorter side, or exact size; optionally a random shorter side: scale jitter) ->
//   crop (centre or random) -> flip (random) -> black border -> normalise.
//
// Randomness comes from a per-sample seed (augment_seed: loader seed, epoch, dataset index),
// never from a shared stream, so the crop and flip of an image depend neither on which
// thread decodes it nor on the order in which threads finish.
// apply() fuses resize and crop (only the window is resampled) and flip and normalisation
// (rows are read backwards), writing the float planes straight into the batch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"
#include "graft/data/image.hpp"
#include "graft/data/image_ops.hpp"
#include "graft/data/normalize.hpp"

namespace graft {
namespace data {

// The seed of one sample's augmentation in one epoch.
inline uint64_t augment_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return random::bits(random::bits(seed ^ 0x61756720u /* "aug " */, uint64_t(epoch)), uint64_t(index));
}

// What apply() did to one image (for tests, and to explain an odd sample).
struct Applied {
  Size scaled;      // size after resizing (the input's when not resized)
  int x0 = 0, y0 = 0;  // crop origin in the scaled image
  Size output;      // size written
  bool flipped = false;
};

struct Transform {
  int resize_shorter = 0;  // > 0: scale so that the shorter side is this many pixels
  // > resize_shorter: scale jitter, the shorter side drawn uniformly in [resize_shorter,
  // resize_max] for each sample (drawn first, so transforms without it draw as before).
  int resize_max = 0;
  Size resize_to;          // > 0: scale to exactly this size (ignoring the aspect ratio)
  Size crop;               // > 0: keep this window of the scaled image
  bool random_crop = false;  // window at a random place; otherwise centred
  bool random_flip = false;  // mirror left-right with probability 1/2
  // Pixels of black (0, 0, 0 before normalising) added on every side after the crop: dlib
  // fills a face chip's outside with black, so a 140 face plus 5 is its 150 chip.
  int border = 0;
  Filter filter = Filter::Default;
  Normalization norm = Normalization::vgg_face();

  // Training: shorter side to `resize`, random `crop` x `crop` window, random flip.
  static Transform train(int resize = 256, int crop = 224) {
    Transform t;
    t.resize_shorter = resize;
    t.crop = {crop, crop};
    t.random_crop = true;
    t.random_flip = true;
    return t;
  }
  // Evaluation: shorter side to `resize`, centred `crop` x `crop` window, no randomness.
  static Transform eval(int resize = 256, int crop = 224) {
    Transform t;
    t.resize_shorter = resize;
    t.crop = {crop, crop};
    return t;
  }

  // The image as it is (no resizing, cropping or flipping), normalised.
  static Transform none(const Normalization& norm) {
    Transform t;
    t.norm = norm;
    return t;
  }
  // dlib's face chip (get_face_chip_details(shape, 150, 0.25)) from a face crop aligned like
  // dlib's 200-pixel chips with padding 0.2, as UTKFace's crops are: the crop resized to 14/15
  // of the chip and a black border of 1/30 on every side (140 + 2 x 5 = 150); see
  // nn::dlib_face_chip, which explains the measurement behind it.
  static Transform dlib_face_chip(int size = 150) {
    Transform t;
    t.border = size / 30;
    const int inner = size - 2 * t.border;
    t.resize_to = {inner, inner};
    // The default filter, as nn::dlib_face_chip: stb's triangle filter fails an assertion
    // (total < 1.1 in stbir__normalize_downsample_coefficients) on some reductions, 180 -> 140
    // for one, which would abort a loader thread.
    return t;
  }
  // Training chips: the face jittered before the border is added, as dlib trained its model
  // with random zoom, translation and mirroring: the shorter side drawn in [inner, 8/7 inner]
  // (scale jitter), a random inner x inner crop (translation) and a random flip.
  static Transform dlib_face_chip_train(int size = 150) {
    Transform t;
    t.border = size / 30;
    const int inner = size - 2 * t.border;
    t.resize_shorter = inner;
    t.resize_max = (inner * 8 + 6) / 7;
    t.crop = {inner, inner};
    t.random_crop = true;
    t.random_flip = true;
    return t;
  }

  void check() const {
    GRAFT_CHECK(resize_shorter >= 0 && resize_to.width >= 0 && resize_to.height >= 0 && crop.width >= 0 &&
                    crop.height >= 0,
                "transform: sizes must not be negative");
    GRAFT_CHECK(border >= 0, "transform: the border must not be negative (", border, ")");
    GRAFT_CHECK(resize_max == 0 || (resize_shorter > 0 && resize_max >= resize_shorter),
                "transform: resize_max (", resize_max, ") needs a resize_shorter at most as large (", resize_shorter, ")");
    GRAFT_CHECK(!(resize_shorter > 0 && (resize_to.width > 0 || resize_to.height > 0)),
                "transform: choose resize_shorter or resize_to, not both");
    GRAFT_CHECK((resize_to.width > 0) == (resize_to.height > 0), "transform: resize_to needs both a width and a height");
    GRAFT_CHECK((crop.width > 0) == (crop.height > 0), "transform: crop needs both a width and a height");
    norm.check();
  }

  // The output size when it does not depend on the input (a crop or an exact resize), else {0, 0}.
  Size fixed_output_size() const {
    if (crop.width > 0) return bordered(crop);
    if (resize_to.width > 0) return bordered(resize_to);
    return {0, 0};
  }

  // The size after resizing (with scale jitter: at its smallest, resize_shorter).
  Size scaled_size(int width, int height) const {
    if (resize_shorter > 0) return shorter_side_size(width, height, resize_shorter);
    if (resize_to.width > 0) return resize_to;
    return {width, height};
  }

  Size output_size(int width, int height) const {
    Size f = fixed_output_size();
    return f.width > 0 ? f : bordered(scaled_size(width, height));
  }

  Size bordered(Size s) const { return {s.width + 2 * border, s.height + 2 * border}; }

  // Transforms `in` and writes 3 x H x W floats to `out` (H x W: output_size of the input).
  // `seed` drives the random crop and flip (augment_seed gives the loader's); `scratch` holds
  // the resampled window and keeps its storage between calls.
  Applied apply(const Image& in, uint64_t seed, Image& scratch, float* out) const {
    GRAFT_CHECK(!in.empty(), "transform: empty image (", in.width, "x", in.height, ")");
    Applied a;
    Rng rng(seed);
    a.scaled = scaled_size(in.width, in.height);
    if (resize_max > resize_shorter) {
      const int side = resize_shorter + int(rng.below(uint64_t(resize_max - resize_shorter + 1)));
      a.scaled = shorter_side_size(in.width, in.height, side);
    }
    a.output = crop.width > 0 ? crop : a.scaled;
    if (crop.width > 0) {
      GRAFT_CHECK(crop.width <= a.scaled.width && crop.height <= a.scaled.height, "transform: image of ",
                  in.width, "x", in.height, " (", a.scaled.width, "x", a.scaled.height,
                  " after resizing) is smaller than the crop of ", crop.width, "x", crop.height);
      if (random_crop)
        random_crop_origin(a.scaled.width, a.scaled.height, crop.width, crop.height, rng, a.x0, a.y0);
      else
        center_crop_origin(a.scaled.width, a.scaled.height, crop.width, crop.height, a.x0, a.y0);
    }
    if (random_flip) a.flipped = rng.uniform() < 0.5f;

    const Image* src = &in;
    if (!(a.scaled == Size{in.width, in.height}) || !(a.output == a.scaled)) {
      resize_region(in, a.scaled.width, a.scaled.height, a.x0, a.y0, a.output.width, a.output.height, filter,
                    scratch);
      src = &scratch;
    }
    if (border > 0) {
      // The window placed on black; the flip below mirrors it inside its (symmetric) border.
      Image framed;
      framed.resize(a.output.width + 2 * border, a.output.height + 2 * border);
      std::fill(framed.rgb.begin(), framed.rgb.end(), uint8_t(0));
      for (int y = 0; y < a.output.height; ++y)
        std::memcpy(framed.pixel(border, y + border), src->pixel(0, y), size_t(a.output.width) * 3);
      a.output = bordered(a.output);
      normalize_into(framed, norm, a.flipped, out);
      return a;
    }
    normalize_into(*src, norm, a.flipped, out);
    return a;
  }

  // The same into a (1, 3, H, W) tensor.
  Applied apply(const Image& in, uint64_t seed, Tensor<float>& out) const {
    Size s = output_size(in.width, in.height);
    out.resize(Shape{1, 3, s.height, s.width});
    Image scratch;
    return apply(in, seed, scratch, out.data());
  }

  std::string str() const {
    std::string s;
    if (resize_shorter > 0) s += "resize shorter side to " + std::to_string(resize_shorter);
    if (resize_to.width > 0) s += "resize to " + std::to_string(resize_to.width) + "x" + std::to_string(resize_to.height);
    if (crop.width > 0)
      s += std::string(s.empty() ? "" : ", ") + (random_crop ? "random" : "centre") + " crop " +
           std::to_string(crop.width) + "x" + std::to_string(crop.height);
    if (resize_max > resize_shorter) s += " (random " + std::to_string(resize_shorter) + ".." + std::to_string(resize_max) + ")";
    if (random_flip) s += std::string(s.empty() ? "" : ", ") + "random flip";
    if (border > 0) s += std::string(s.empty() ? "" : ", ") + std::to_string(border) + "-pixel black border";
    s += std::string(s.empty() ? "" : ", ") + (norm.order == Normalization::Order::BGR ? "BGR" : "RGB");
    return s;
  }
};

}  // namespace data
}  // namespace graft
