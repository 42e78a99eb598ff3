// Decoding: exact pixels from PNG, close pixels from JPEG, grey and alpha to RGB, and an
// error naming the file for everything that is not a readable JPEG or PNG.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>

#include "graft/data.hpp"
#include "support/image_files.hpp"

using namespace graft;
using namespace graft::data;
using graft::test::TempDir;

TEST_CASE("decode: PNG gives the exact pixels", "[data]") {
  TempDir dir("decode");
  Image img = test::random_image(37, 23, 1);
  test::write_png(dir / "a.png", img);
  Image got = load_image(dir / "a.png");
  REQUIRE(got.width == 37);
  REQUIRE(got.height == 23);
  CHECK(got.rgb == img.rgb);

  // The same through the reusable-buffer overload, twice (storage reused).
  std::vector<uint8_t> bytes;
  Image again;
  load_image(dir / "a.png", again, bytes);
  load_image(dir / "a.png", again, bytes);
  CHECK(again.rgb == img.rgb);
}

TEST_CASE("decode: JPEG gives close pixels", "[data]") {
  TempDir dir("decode");
  Image img = test::smooth_image(64, 48, 2);
  test::write_jpg(dir / "a.jpg", img, 100);
  Image got = load_image(dir / "a.jpg");
  REQUIRE(got.width == 64);
  REQUIRE(got.height == 48);
  double err = 0;
  for (size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(int(got.rgb[i]) - int(img.rgb[i]));
  CHECK(err / double(img.rgb.size()) < 2.0);
}

TEST_CASE("decode: grey is replicated, alpha is dropped", "[data]") {
  TempDir dir("decode");
  Rng rng(3);
  std::vector<uint8_t> grey(9 * 5), rgba(9 * 5 * 4);
  for (auto& v : grey) v = uint8_t(rng.below(256));
  for (auto& v : rgba) v = uint8_t(rng.below(256));
  REQUIRE(stbi_write_png((dir / "g.png").c_str(), 9, 5, 1, grey.data(), 9));
  REQUIRE(stbi_write_png((dir / "a.png").c_str(), 9, 5, 4, rgba.data(), 9 * 4));
  Image g = load_image(dir / "g.png"), a = load_image(dir / "a.png");
  for (int i = 0; i < 9 * 5; ++i) {
    for (int c = 0; c < 3; ++c) {
      CHECK(g.rgb[size_t(i * 3 + c)] == grey[size_t(i)]);
      CHECK(a.rgb[size_t(i * 3 + c)] == rgba[size_t(i * 4 + c)]);
    }
  }
}

TEST_CASE("decode: bad files raise errors that name the file", "[data]") {
  TempDir dir("decode");
  Image img = test::smooth_image(40, 30, 4);
  test::write_jpg(dir / "good.jpg", img);
  test::write_png(dir / "good.png", img);
  const auto jpg = test::read_bytes(dir / "good.jpg"), png = test::read_bytes(dir / "good.png");

  auto fails_with = [&](const std::string& name, const std::string& what) {
    const std::string path = dir / name;
    CHECK_THROWS_WITH(load_image(path), Catch::StartsWith(path) && Catch::Contains(what));
  };

  fails_with("missing.jpg", "cannot open");
  test::write_bytes(dir / "empty.jpg", {});
  fails_with("empty.jpg", "empty file");

  std::vector<uint8_t> noise(500);
  Rng rng(5);
  for (auto& v : noise) v = uint8_t(rng.below(256));
  noise[0] = 0x00;  // not by chance a signature
  test::write_bytes(dir / "noise.jpg", noise);
  fails_with("noise.jpg", "not a JPEG or PNG");

  for (double frac : {0.1, 0.5, 0.9}) {
    test::write_bytes(dir / "cut.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + long(jpg.size() * frac)));
    fails_with("cut.jpg", "corrupt or truncated JPEG");
    test::write_bytes(dir / "cut.png", std::vector<uint8_t>(png.begin(), png.begin() + long(png.size() * frac)));
    fails_with("cut.png", "corrupt or truncated PNG");
  }

  // A JPEG signature followed by noise.
  std::vector<uint8_t> fake(jpg.begin(), jpg.begin() + 4);
  fake.insert(fake.end(), noise.begin(), noise.end());
  test::write_bytes(dir / "fake.jpg", fake);
  fails_with("fake.jpg", "corrupt or truncated JPEG");

  // A PNG whose header claims 10000 x 10000 pixels: refused before any allocation.
  std::vector<uint8_t> huge = png;
  REQUIRE(std::string(huge.begin() + 12, huge.begin() + 16) == "IHDR");
  for (int k : {16, 20}) {
    huge[size_t(k)] = 0x00;
    huge[size_t(k + 1)] = 0x00;
    huge[size_t(k + 2)] = 0x27;
    huge[size_t(k + 3)] = 0x10;  // 10000, big-endian
  }
  test::write_bytes(dir / "huge.png", huge);
  fails_with("huge.png", "larger than the limit");

  // A folder is not an image.
  std::filesystem::create_directories(dir / "folder.jpg");
  CHECK_THROWS_WITH(load_image(dir / "folder.jpg"), Catch::StartsWith(dir / "folder.jpg") && Catch::Contains("not a regular file"));

  // In memory, the name given starts the message.
  Image out;
  CHECK_THROWS_WITH(decode_image(noise, "sample 17", out), Catch::StartsWith("sample 17: "));
}
