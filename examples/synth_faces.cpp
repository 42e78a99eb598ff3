// graft-synth-faces DIR [COUNT] [SIDE]: writes a generated face set in UTKFace's format
// ({age}_{gender}_{race}_{date}.jpg.chip.jpg) for running the demo where no real data is.
//
// Each image is a drawn face: an oval whose skin tone follows the race code, eyes and a
// mouth, hair whose length follows the gender (long for 1, short for 0) and lines whose
// number grows with the age; position, size, colours and noise vary per image. It is a
// stand-in that has the structure of the task (a source task, race and age, and a target,
// gender), not a claim about faces.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "graft/core/random.hpp"
#include "graft/data/image.hpp"
#include "stb_image_write.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: graft-synth-faces DIR [COUNT=2000] [SIDE=64]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int count = argc > 2 ? std::atoi(argv[2]) : 2000, side = argc > 3 ? std::atoi(argv[3]) : 64;
  if (count <= 0 || side < 16 || side > 1024) {
    std::fprintf(stderr, "graft-synth-faces: COUNT must be positive and SIDE in [16, 1024]\n");
    return 2;
  }
  std::filesystem::create_directories(dir);
  const float skin[5][3] = {{235, 200, 180}, {120, 80, 60}, {225, 190, 140}, {170, 120, 90}, {200, 160, 120}};
  graft::Rng rng(20261127);
  std::vector<unsigned char> px(size_t(side) * side * 3);
  for (int i = 0; i < count; ++i) {
    const int gender = int(rng.below(2)), race = int(rng.below(5)), age = 1 + int(rng.below(85));
    const float cx = side * (0.5f + 0.06f * float(rng.normal())), cy = side * (0.52f + 0.05f * float(rng.normal()));
    const float rx = side * (0.27f + 0.02f * float(rng.normal())), ry = rx * 1.3f;
    const float hair = gender ? 0.95f : 0.55f + 0.1f * rng.uniform();  // how far down the hair reaches
    const float bg[3] = {60 + 150 * rng.uniform(), 60 + 150 * rng.uniform(), 60 + 150 * rng.uniform()};
    const float hc = 20 + 80 * rng.uniform();
    const int lines = age / 15;
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const float dx = (x - cx) / rx, dy = (y - cy) / ry, r2 = dx * dx + dy * dy;
        float c[3] = {bg[0], bg[1], bg[2]};
        const bool in_hair = r2 < 1.35f && (dy < -0.55f || (std::abs(dx) > 0.8f && (y - (cy - ry)) / (2.2f * ry) < hair));
        if (in_hair) c[0] = c[1] = c[2] = hc;
        if (r2 < 1.0f && !(dy < -0.6f)) {
          for (int k = 0; k < 3; ++k) c[k] = skin[race][k];
          const bool eye = (std::abs(std::abs(dx) - 0.4f) < 0.12f && std::abs(dy + 0.15f) < 0.08f);
          const bool mouth = std::abs(dx) < 0.35f && std::abs(dy - 0.5f) < 0.05f;
          bool wrinkle = false;
          for (int l = 0; l < lines; ++l) wrinkle |= std::abs(dy + 0.45f - 0.07f * l) < 0.015f && std::abs(dx) < 0.5f;
          if (eye) c[0] = c[1] = c[2] = 30;
          if (mouth) c[0] = 160, c[1] = 50, c[2] = 50;
          if (wrinkle) for (auto& v : c) v *= 0.7f;
        }
        for (int k = 0; k < 3; ++k) {
          const float v = c[k] + 12.0f * float(graft::random::normal(uint64_t(i), uint64_t((y * side + x) * 3 + k)));
          px[size_t((y * side + x) * 3 + k)] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
      }
    char name[128];
    std::snprintf(name, sizeof name, "/%d_%d_%d_2026112700%05d.jpg.chip.jpg", age, gender, race, i);
    if (!stbi_write_jpg((dir + name).c_str(), side, side, 3, px.data(), 92)) {
      std::fprintf(stderr, "graft-synth-faces: cannot write %s%s\n", dir.c_str(), name);
      return 1;
    }
  }
  std::printf("wrote %d generated faces (%dx%d) to %s\n", count, side, side, dir.c_str());
  return 0;
}
