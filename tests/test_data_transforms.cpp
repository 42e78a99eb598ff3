// Transforms on generated images: sizes, exact values of resize (where a filter has exact
// answers), crops, flips and normalisation, and Transform as the composition of the parts.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <utility>

#include "graft/data.hpp"
#include "support/image_files.hpp"

using namespace graft;
using namespace graft::data;

namespace {
const Filter kFilters[] = {Filter::Default, Filter::Box, Filter::Triangle, Filter::CubicBSpline, Filter::CatmullRom,
                           Filter::Mitchell};

Image constant_image(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img;
  img.resize(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.pixel(x, y)[0] = r;
      img.pixel(x, y)[1] = g;
      img.pixel(x, y)[2] = b;
    }
  return img;
}
}  // namespace

TEST_CASE("resize: sizes of the shorter-side rule", "[data]") {
  CHECK(shorter_side_size(200, 200, 256) == Size{256, 256});
  CHECK(shorter_side_size(300, 200, 256) == Size{384, 256});
  CHECK(shorter_side_size(333, 200, 256) == Size{426, 256});  // 426.24, truncated
  CHECK(shorter_side_size(200, 333, 256) == Size{256, 426});
  CHECK(shorter_side_size(1000, 1, 10) == Size{10000, 10});
  CHECK_THROWS_WITH(shorter_side_size(0, 5, 10), Catch::Contains("empty image"));
  CHECK_THROWS_WITH(shorter_side_size(5, 5, 0), Catch::Contains("positive"));

  Image img = test::random_image(30, 20, 1), out;
  resize_shorter(img, 50, out);
  CHECK(out.width == 75);
  CHECK(out.height == 50);
  CHECK(out.rgb.size() == size_t(75 * 50 * 3));
}

TEST_CASE("resize: a constant image stays constant, with every filter, up and down", "[data]") {
  Image img = constant_image(23, 17, 7, 128, 250), out;
  for (Filter f : kFilters) {
    for (auto s : {std::pair<int, int>{64, 50}, {11, 5}, {23, 40}, {1, 1}}) {
      resize(img, s.first, s.second, out, f);
      REQUIRE(out.width == s.first);
      REQUIRE(out.height == s.second);
      bool same = true;
      for (int i = 0; i < s.first * s.second; ++i)
        same = same && out.rgb[size_t(3 * i)] == 7 && out.rgb[size_t(3 * i + 1)] == 128 && out.rgb[size_t(3 * i + 2)] == 250;
      INFO(filter_name(f) << " to " << s.first << "x" << s.second);
      CHECK(same);
    }
  }
}

TEST_CASE("resize: the box filter halves by averaging 2x2 blocks", "[data]") {
  // Each 2x2 block holds a, a+2, a+4, a+6 (per channel, in a block-dependent order), so
  // its mean a+3 is a whole number and the expected output is exact.
  const int W = 12, H = 8;
  Image img;
  img.resize(W, H);
  Rng rng(7);
  Image expected;
  expected.resize(W / 2, H / 2);
  for (int by = 0; by < H / 2; ++by)
    for (int bx = 0; bx < W / 2; ++bx)
      for (int c = 0; c < 3; ++c) {
        int a = int(rng.below(240));
        int off[4] = {0, 2, 4, 6};
        for (int k = 3; k > 0; --k) std::swap(off[k], off[rng.below(uint64_t(k + 1))]);
        img.pixel(2 * bx, 2 * by)[c] = uint8_t(a + off[0]);
        img.pixel(2 * bx + 1, 2 * by)[c] = uint8_t(a + off[1]);
        img.pixel(2 * bx, 2 * by + 1)[c] = uint8_t(a + off[2]);
        img.pixel(2 * bx + 1, 2 * by + 1)[c] = uint8_t(a + off[3]);
        expected.pixel(bx, by)[c] = uint8_t(a + 3);
      }
  Image out;
  resize(img, W / 2, H / 2, out, Filter::Box);
  CHECK(out.rgb == expected.rgb);
}

TEST_CASE("resize: to the same size is an exact copy", "[data]") {
  Image img = test::random_image(31, 19, 8), out;
  resize(img, 31, 19, out);
  CHECK(out.rgb == img.rgb);
}

TEST_CASE("resize: upsampling interpolates (Catmull-Rom passes through the pixels)", "[data]") {
  // A horizontal ramp 0, 10, 20, ... scaled x4 horizontally: an interpolating filter keeps
  // the ramp linear inside; every output is between its neighbours.
  Image img;
  img.resize(16, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) img.pixel(x, y)[c] = uint8_t(10 * x + c);
  Image out;
  resize(img, 64, 4, out, Filter::CatmullRom);
  for (int x = 8; x < 56; ++x) {
    // Output pixel centre x + 0.5 maps to input coordinate (x + 0.5) / 4 - 0.5.
    double expect = 10.0 * ((x + 0.5) / 4.0 - 0.5);
    CHECK(std::abs(double(out.pixel(x, 2)[0]) - expect) <= 0.5 + 1e-9);
  }
}

TEST_CASE("resize: a window equals the same pixels of the whole resize, bit for bit", "[data]") {
  Image img = test::random_image(200, 150, 9), whole, window, cropped;
  for (Filter f : kFilters)
    for (auto s : {std::pair<int, int>{256, 192}, {341, 256}, {120, 90}, {224, 168}, {200, 300}}) {
      resize(img, s.first, s.second, whole, f);
      const int cw = s.first * 3 / 4, ch = s.second * 3 / 4;
      for (auto o : {std::pair<int, int>{0, 0}, {7, 3}, {s.first - cw, s.second - ch}}) {
        resize_region(img, s.first, s.second, o.first, o.second, cw, ch, f, window);
        crop(whole, o.first, o.second, cw, ch, cropped);
        INFO(filter_name(f) << " " << s.first << "x" << s.second << " window at " << o.first << "," << o.second);
        CHECK(window.rgb == cropped.rgb);
      }
    }
  CHECK_THROWS_WITH(resize_region(img, 100, 100, 50, 0, 60, 10, Filter::Default, window),
                    Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(resize(img, 10, 10, img), Catch::Contains("different images"));
}

TEST_CASE("crop: exact pixels, centred and random origins", "[data]") {
  Image img = test::random_image(10, 7, 10), out;
  crop(img, 3, 2, 4, 5, out);
  REQUIRE(out.width == 4);
  REQUIRE(out.height == 5);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) CHECK(out.pixel(x, y)[c] == img.pixel(x + 3, y + 2)[c]);

  int x0, y0;
  center_crop_origin(10, 7, 4, 4, x0, y0);
  CHECK(x0 == 3);
  CHECK(y0 == 1);  // (7 - 4) / 2 rounded toward the top
  center_crop(img, 4, 4, out);
  Image manual;
  crop(img, 3, 1, 4, 4, manual);
  CHECK(out.rgb == manual.rgb);

  // Random origins: inside the image, reproducible from the stream, and all of them reached.
  std::set<std::pair<int, int>> seen;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    Rng a(seed), b(seed);
    random_crop_origin(10, 7, 4, 4, a, x0, y0);
    int x1, y1;
    random_crop_origin(10, 7, 4, 4, b, x1, y1);
    CHECK((x0 == x1 && y0 == y1));
    CHECK((x0 >= 0 && x0 <= 6 && y0 >= 0 && y0 <= 3));
    seen.insert({x0, y0});
  }
  CHECK(seen.size() == 7 * 4);

  Rng rng(11);
  random_crop(img, 10, 7, rng, out);  // the whole image is the only window
  CHECK(out.rgb == img.rgb);
  CHECK_THROWS_WITH(center_crop(img, 11, 4, out), Catch::Contains("larger than the image (10x7)"));
  CHECK_THROWS_WITH(crop(img, 8, 0, 4, 4, out), Catch::Contains("does not fit"));
}

TEST_CASE("hflip: mirrors exactly, twice is the identity", "[data]") {
  for (int w : {1, 6, 7}) {
    Image img = test::random_image(w, 3, 12), f = img;
    hflip(f);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) CHECK(f.pixel(x, y)[c] == img.pixel(w - 1 - x, y)[c]);
    hflip(f);
    CHECK(f.rgb == img.rgb);
  }
}

TEST_CASE("vgg_face_preprocess: BGR, minus the VGG-Face means, NCHW float", "[data]") {
  Image img = test::random_image(5, 4, 13);
  Tensor<float> t = vgg_face_preprocess(img);
  REQUIRE(t.shape() == Shape({1, 3, 4, 5}));
  const float mean_bgr[3] = {93.5940f, 104.7624f, 129.1863f};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) {
      const uint8_t* p = img.pixel(x, y);  // R, G, B
      CHECK(t.at(0, 0, y, x) == float(p[2]) - mean_bgr[0]);
      CHECK(t.at(0, 1, y, x) == float(p[1]) - mean_bgr[1]);
      CHECK(t.at(0, 2, y, x) == float(p[0]) - mean_bgr[2]);
    }
  // A pure red pixel is B = 0 - 93.594, G = 0 - 104.7624, R = 255 - 129.1863.
  Tensor<float> red = vgg_face_preprocess(constant_image(1, 1, 255, 0, 0));
  CHECK(red[0] == Approx(-93.5940).epsilon(1e-7));
  CHECK(red[1] == Approx(-104.7624).epsilon(1e-7));
  CHECK(red[2] == Approx(125.8137).epsilon(1e-7));
}

TEST_CASE("normalize: other recipes", "[data]") {
  Image img = test::random_image(6, 3, 14);
  Tensor<float> t;
  auto at = [&](int c, int y, int x) { return double(t.at(0, c, y, x)); };

  normalize(img, Normalization::unit_range(), t);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) CHECK(at(c, y, x) == Approx(img.pixel(x, y)[c] / 255.0).margin(1e-7));

  normalize(img, Normalization::imagenet(), t);
  const double m[3] = {0.485, 0.456, 0.406}, s[3] = {0.229, 0.224, 0.225};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c)
        CHECK(at(c, y, x) == Approx((img.pixel(x, y)[c] / 255.0 - m[c]) / s[c]).margin(1e-5));

  auto n = Normalization::mean_then_255(Normalization::Order::BGR, {{93.5940f, 104.7624f, 129.1863f}});
  normalize(img, n, t);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x) {
      CHECK(at(0, y, x) == Approx((img.pixel(x, y)[2] - 93.5940) / 255.0).margin(1e-6));
      CHECK(at(2, y, x) == Approx((img.pixel(x, y)[0] - 129.1863) / 255.0).margin(1e-6));
    }

  normalize(img, Normalization::none(), t);
  CHECK(at(1, 2, 5) == img.pixel(5, 2)[1]);

  Normalization bad = Normalization::none();
  bad.stddev[1] = 0;
  CHECK_THROWS_WITH(normalize(img, bad, t), Catch::Contains("zero"));

  // Flipping while normalising equals flipping first.
  Image flipped = img;
  hflip(flipped);
  std::vector<float> a(3 * 6 * 3), b(a.size());
  normalize_into(img, Normalization::vgg_face(), true, a.data());
  normalize_into(flipped, Normalization::vgg_face(), false, b.data());
  CHECK(a == b);
}

TEST_CASE("Transform: train = resize, random crop, random flip, VGG-Face, and reproducible", "[data]") {
  Image img = test::random_image(60, 40, 15);
  Transform tf = Transform::train(32, 24);
  Image scratch, resized, cropped;
  std::vector<float> out(3 * 24 * 24), expect(out.size()), again(out.size());
  std::set<std::pair<int, int>> origins;
  int flips = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Applied a = tf.apply(img, seed, scratch, out.data());
    CHECK(a.scaled == Size{48, 32});
    CHECK(a.output == Size{24, 24});
    // The same by the separate steps.
    resize_shorter(img, 32, resized);
    crop(resized, a.x0, a.y0, 24, 24, cropped);
    if (a.flipped) hflip(cropped);
    normalize_into(cropped, Normalization::vgg_face(), false, expect.data());
    CHECK(out == expect);
    // Same seed, same result.
    Applied b = tf.apply(img, seed, scratch, again.data());
    CHECK((b.x0 == a.x0 && b.y0 == a.y0 && b.flipped == a.flipped));
    CHECK(again == out);
    origins.insert({a.x0, a.y0});
    flips += a.flipped;
  }
  CHECK(origins.size() > 20);  // 25 x 9 possible windows: seeds spread them
  CHECK(flips > 5);
  CHECK(flips < 35);
  CHECK(augment_seed(1, 0, 5) != augment_seed(1, 1, 5));
  CHECK(augment_seed(1, 0, 5) != augment_seed(1, 0, 6));
  CHECK(augment_seed(1, 0, 5) != augment_seed(2, 0, 5));
}

TEST_CASE("Transform: eval is a centred crop without randomness; exact resize; errors", "[data]") {
  Image img = test::random_image(50, 70, 16), scratch, resized, cropped;
  Transform tf = Transform::eval(40, 32);
  std::vector<float> a(3 * 32 * 32), b(a.size()), expect(a.size());
  Applied r = tf.apply(img, 1, scratch, a.data());
  tf.apply(img, 999, scratch, b.data());
  CHECK(a == b);
  CHECK(r.scaled == Size{40, 56});
  CHECK((r.x0 == 4 && r.y0 == 12 && !r.flipped));
  resize_shorter(img, 40, resized);
  center_crop(resized, 32, 32, cropped);
  normalize_into(cropped, Normalization::vgg_face(), false, expect.data());
  CHECK(a == expect);

  Transform exact;
  exact.resize_to = {20, 10};
  exact.norm = Normalization::none();
  Tensor<float> t;
  exact.apply(img, 0, t);
  CHECK(t.shape() == Shape({1, 3, 10, 20}));
  CHECK(exact.fixed_output_size() == Size{20, 10});

  Transform only_crop;
  only_crop.crop = {60, 60};
  CHECK_THROWS_WITH(only_crop.apply(img, 0, t), Catch::Contains("smaller than the crop of 60x60"));
  Transform both;
  both.resize_shorter = 10;
  both.resize_to = {5, 5};
  CHECK_THROWS_WITH(both.check(), Catch::Contains("not both"));
  CHECK(Transform::eval().fixed_output_size() == Size{224, 224});
  Transform plain;
  plain.resize_shorter = 30;
  CHECK(plain.fixed_output_size() == Size{0, 0});
  CHECK(plain.output_size(50, 70) == Size{30, 42});
}

TEST_CASE("Transform::dlib_face_chip: a 200 crop resized to 140 inside a 5-pixel black border", "[data]") {
  const Image crop = test::smooth_image(200, 200, 21);
  Transform t = Transform::dlib_face_chip();
  t.norm = {Normalization::Order::RGB, 1.0f, {{122.8f, 117.0f, 104.1f}}, {{256.0f, 256.0f, 256.0f}}};  // dlib's kind
  CHECK(t.fixed_output_size() == Size{150, 150});
  CHECK(t.output_size(200, 200) == Size{150, 150});
  Tensor<float> out;
  const Applied a = t.apply(crop, 0, out);
  REQUIRE(out.shape() == Shape({1, 3, 150, 150}));
  CHECK(a.output == Size{150, 150});
  CHECK(a.scaled == Size{140, 140});
  Image plain;
  resize(crop, 140, 140, plain, t.filter);
  int border_bad = 0, centre_bad = 0;
  for (int c = 0; c < 3; ++c) {
    const float black = (0.0f - t.norm.mean[size_t(c)]) / 256.0f;  // the normalised black value
    for (int y = 0; y < 150; ++y)
      for (int x = 0; x < 150; ++x) {
        const float v = out.data()[(c * 150 + y) * 150 + x];
        if (x < 5 || y < 5 || x >= 145 || y >= 145) {
          border_bad += v != black;
        } else {
          const float want = (float(plain.pixel(x - 5, y - 5)[c]) - t.norm.mean[size_t(c)]) / 256.0f;
          centre_bad += v != want;
        }
      }
  }
  CHECK(border_bad == 0);
  CHECK(centre_bad == 0);
  CHECK(t.str().find("5-pixel black border") != std::string::npos);
  for (int side : {64, 150, 180, 199, 250, 333, 400}) {  // other crop sizes resize too
    INFO(side);
    Tensor<float> o;
    t.apply(test::smooth_image(side, side, uint64_t(side)), 0, o);
    CHECK(o.shape() == Shape({1, 3, 150, 150}));
  }
}

TEST_CASE("Transform::dlib_face_chip_train: jittered 140 face, flipped or not, always inside the black border", "[data]") {
  const Image crop = test::smooth_image(200, 200, 22);
  Transform t = Transform::dlib_face_chip_train();
  t.norm = Normalization::none();
  CHECK(t.fixed_output_size() == Size{150, 150});
  std::set<int> scales, origins;
  int flips = 0;
  for (uint64_t s = 0; s < 64; ++s) {
    Tensor<float> out;
    const Applied a = t.apply(crop, augment_seed(7, 0, int64_t(s)), out);
    REQUIRE(out.shape() == Shape({1, 3, 150, 150}));
    CHECK(a.scaled.width >= 140);
    CHECK(a.scaled.width <= 160);
    scales.insert(a.scaled.width);
    origins.insert(a.x0 * 1000 + a.y0);
    flips += a.flipped;
    float border_max = 0;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 150; ++y)
        for (int x = 0; x < 150; ++x)
          if (x < 5 || y < 5 || x >= 145 || y >= 145) border_max = std::max(border_max, out.data()[(c * 150 + y) * 150 + x]);
    CHECK(border_max == 0.0f);
  }
  CHECK(scales.size() > 5);   // scale jitter
  CHECK(origins.size() > 5);  // translation
  CHECK(flips > 10);
  CHECK(flips < 54);
  // The same seed gives the same sample.
  Tensor<float> x1, x2;
  t.apply(crop, 99, x1);
  t.apply(crop, 99, x2);
  CHECK(std::equal(x1.data(), x1.data() + x1.size(), x2.data()));
}
