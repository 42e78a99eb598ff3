// Test images and folders: generated pixels, written with stb_image_write (libstb) into a
// temporary folder that is removed when the test ends.
#pragma once

#include <stb_image_write.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "graft/core/random.hpp"
#include "graft/data/image.hpp"

namespace graft {
namespace test {

// A fresh folder under the system's temporary folder, unique per process and per object.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("graft-test-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Uniformly random pixels.
inline data::Image random_image(int w, int h, uint64_t seed) {
  data::Image img;
  img.resize(w, h);
  Rng rng(seed);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng.below(256));
  return img;
}

// Smooth gradients (JPEG keeps them well), different per channel and per seed.
inline data::Image smooth_image(int w, int h, uint64_t seed) {
  data::Image img;
  img.resize(w, h);
  Rng rng(seed);
  const int base[3] = {int(rng.below(80)), int(rng.below(80)), int(rng.below(80))};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixel(x, y)[c] = static_cast<uint8_t>(base[c] + (120 * x) / w + (50 * y) / h + 10 * c);
  return img;
}

inline void write_png(const std::string& path, const data::Image& img) {
  if (!stbi_write_png(path.c_str(), img.width, img.height, 3, img.rgb.data(), img.width * 3))
    throw std::runtime_error("cannot write " + path);
}
inline void write_jpg(const std::string& path, const data::Image& img, int quality = 95) {
  if (!stbi_write_jpg(path.c_str(), img.width, img.height, 3, img.rgb.data(), quality))
    throw std::runtime_error("cannot write " + path);
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::vector<uint8_t> b;
  data::read_file(path, b);
  return b;
}
// An empty file (dataset builders look only at names).
inline void touch(const std::string& path) { write_bytes(path, {}); }

}  // namespace test
}  // namespace graft
