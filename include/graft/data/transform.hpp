// Transform: what happens to each image between the file and the batch, in one fixed order:
//   resize (shorter side, or exact size) -> crop (centre or random) -> flip (random) -> normalise.
//
// Randomness comes from a per-sample seed (augment_seed: loader seed, epoch, dataset index),
// never from a shared stream, so the crop and flip of an image depend neither on which
// thread decodes it nor on the order in which threads finish.
// apply() fuses resize and crop (only the window is resampled) and flip and normalisation
// (rows are read backwards), writing the float planes straight into the batch.
#pragma once

#include <cstdint>
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
  Size resize_to;          // > 0: scale to exactly this size (ignoring the aspect ratio)
  Size crop;               // > 0: keep this window of the scaled image
  bool random_crop = false;  // window at a random place; otherwise centred
  bool random_flip = false;  // mirror left-right with probability 1/2
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

  void check() const {
    GRAFT_CHECK(resize_shorter >= 0 && resize_to.width >= 0 && resize_to.height >= 0 && crop.width >= 0 &&
                    crop.height >= 0,
                "transform: sizes must not be negative");
    GRAFT_CHECK(!(resize_shorter > 0 && (resize_to.width > 0 || resize_to.height > 0)),
                "transform: choose resize_shorter or resize_to, not both");
    GRAFT_CHECK((resize_to.width > 0) == (resize_to.height > 0), "transform: resize_to needs both a width and a height");
    GRAFT_CHECK((crop.width > 0) == (crop.height > 0), "transform: crop needs both a width and a height");
    norm.check();
  }

  // The output size when it does not depend on the input (a crop or an exact resize), else {0, 0}.
  Size fixed_output_size() const {
    if (crop.width > 0) return crop;
    if (resize_to.width > 0) return resize_to;
    return {0, 0};
  }

  Size scaled_size(int width, int height) const {
    if (resize_shorter > 0) return shorter_side_size(width, height, resize_shorter);
    if (resize_to.width > 0) return resize_to;
    return {width, height};
  }

  Size output_size(int width, int height) const {
    Size f = fixed_output_size();
    return f.width > 0 ? f : scaled_size(width, height);
  }

  // Transforms `in` and writes 3 x H x W floats to `out` (H x W: output_size of the input).
  // `seed` drives the random crop and flip (augment_seed gives the loader's); `scratch` holds
  // the resampled window and keeps its storage between calls.
  Applied apply(const Image& in, uint64_t seed, Image& scratch, float* out) const {
    GRAFT_CHECK(!in.empty(), "transform: empty image (", in.width, "x", in.height, ")");
    Applied a;
    a.scaled = scaled_size(in.width, in.height);
    a.output = crop.width > 0 ? crop : a.scaled;
    Rng rng(seed);
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
    if (random_flip) s += std::string(s.empty() ? "" : ", ") + "random flip";
    s += std::string(s.empty() ? "" : ", ") + (norm.order == Normalization::Order::BGR ? "BGR" : "RGB");
    return s;
  }
};

}  // namespace data
}  // namespace graft
