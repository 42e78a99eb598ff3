// Image: 8-bit RGB pixels, row-major (height, width, 3), and decoding of JPEG and PNG files
// with stb_image (the compiled functions come from Debian's libstb, linked by graft::stb).
//
// Every image becomes RGB: grey is replicated into the three channels and an alpha channel
// is dropped (not composited), because the networks graft trains take three channels.
// Failures are graft::Error messages that start with the file's path, so a bad file among
// twenty thousand is found by reading the message. The bytes are checked for a JPEG or PNG
// signature before stb_image sees them: stb_image also accepts TGA, whose header is loose
// enough that random bytes can "decode" as one.
#pragma once

#include <stb_image.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "graft/core/error.hpp"

namespace graft {
namespace data {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3 bytes; the storage is kept by resize()

  void resize(int w, int h) {
    GRAFT_CHECK(w >= 0 && h >= 0, "image size ", w, "x", h, " is negative");
    width = w;
    height = h;
    rgb.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  }
  bool empty() const { return width == 0 || height == 0; }
  uint8_t* pixel(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
};

// The largest image decoded (width * height): a hostile header cannot make stb_image
// allocate gigabytes. 2^26 pixels is 8192 x 8192, far above any face photograph.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

// The largest file read as an image (1 GiB): a guard against reading something that is not one.
constexpr int64_t kMaxImageFileBytes = int64_t(1) << 30;

// Reads a whole file into `bytes` (whose storage is reused from call to call).
inline void read_file(const std::string& path, std::vector<uint8_t>& bytes) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) GRAFT_FAIL(path, ": cannot open (", std::strerror(errno), ")");
  // A folder opens too (and then claims an enormous size): only regular files are read.
  struct stat st;
  GRAFT_CHECK(fstat(fileno(f.get()), &st) == 0, path, ": cannot stat (", std::strerror(errno), ")");
  GRAFT_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  GRAFT_CHECK(st.st_size <= kMaxImageFileBytes, path, ": ", int64_t(st.st_size), " bytes is too large for an image");
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f.get());
  GRAFT_CHECK(got == bytes.size(), path, ": read ", got, " of ", bytes.size(), " bytes (",
              std::ferror(f.get()) ? std::strerror(errno) : "file shrank while reading", ")");
}

enum class ImageFormat { Unknown, JPEG, PNG };

inline ImageFormat sniff_format(const uint8_t* data, size_t size) {
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::JPEG;
  if (size >= 8 && std::memcmp(data, png, 8) == 0) return ImageFormat::PNG;
  return ImageFormat::Unknown;
}

// Decodes JPEG or PNG bytes into `out`; `name` (usually the path) starts every error message.
inline void decode_image(const uint8_t* data, size_t size, const std::string& name, Image& out) {
  GRAFT_CHECK(size > 0, name, ": empty file, not an image");
  ImageFormat format = sniff_format(data, size);
  GRAFT_CHECK(format != ImageFormat::Unknown, name, ": not a JPEG or PNG file (unknown signature)");
  const char* kind = format == ImageFormat::JPEG ? "JPEG" : "PNG";
  GRAFT_CHECK(size <= static_cast<size_t>(INT_MAX), name, ": ", size, " bytes is too large to decode");
  const int n = static_cast<int>(size);

  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, n, &w, &h, &channels))
    GRAFT_FAIL(name, ": corrupt or truncated ", kind, " (", stbi_failure_reason(), ")");
  GRAFT_CHECK(w > 0 && h > 0 && int64_t(w) * h <= kMaxImagePixels, name, ": ", kind, " of ", w, "x", h,
              " pixels is empty or larger than the limit of ", kMaxImagePixels, " pixels");

  struct Free {
    void operator()(unsigned char* p) const { stbi_image_free(p); }
  };
  std::unique_ptr<unsigned char, Free> pixels(stbi_load_from_memory(data, n, &w, &h, &channels, 3));
  if (!pixels) GRAFT_FAIL(name, ": corrupt or truncated ", kind, " (", stbi_failure_reason(), ")");
  out.resize(w, h);
  std::memcpy(out.rgb.data(), pixels.get(), out.rgb.size());
}

inline void decode_image(const std::vector<uint8_t>& bytes, const std::string& name, Image& out) {
  decode_image(bytes.data(), bytes.size(), name, out);
}

// Reads and decodes a file; `scratch` holds the file's bytes and is reused between calls.
inline void load_image(const std::string& path, Image& out, std::vector<uint8_t>& scratch) {
  read_file(path, scratch);
  decode_image(scratch, path, out);
}

inline Image load_image(const std::string& path) {
  std::vector<uint8_t> bytes;
  Image img;
  load_image(path, img, bytes);
  return img;
}

}  // namespace data
}  // namespace graft
