// The [dlib] tests' oracle: dlib 19.24 itself (Debian's libdlib-dev), built against the
// installed headers and library. graft never links it; only this test program does.
//
//   graft_dlib_oracle MODEL.dat CHIPS.rgb N OUT.f32     descriptors of N 150x150 chips
//   graft_dlib_oracle MODEL.dat --resave OUT.dat        the network serialized by this dlib
//
// CHIPS.rgb holds N images of 150x150 RGB bytes, row-major; OUT.f32 gets N x 128 float32
// (host order). The network type is oracle::net_type (dlib_net_type.hpp, shared with the
// speed peer bench/dlib_bench.cpp).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "dlib_net_type.hpp"

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::string(argv[2]) == "--resave") {
      oracle::net_type net;
      dlib::deserialize(argv[1]) >> net;
      dlib::serialize(argv[3]) << net;
      return 0;
    }
    if (argc != 5) {
      std::fprintf(stderr, "usage: graft_dlib_oracle MODEL.dat CHIPS.rgb N OUT.f32 | MODEL.dat --resave OUT.dat\n");
      return 2;
    }
    oracle::net_type net;
    dlib::deserialize(argv[1]) >> net;
    const long n = std::stol(argv[3]);
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<unsigned char> bytes(size_t(n) * 150 * 150 * 3);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()))) {
      std::fprintf(stderr, "graft_dlib_oracle: %s holds fewer than %ld chips\n", argv[2], n);
      return 1;
    }
    std::vector<dlib::matrix<dlib::rgb_pixel>> chips(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
      chips[size_t(i)].set_size(150, 150);
      const unsigned char* p = bytes.data() + size_t(i) * 150 * 150 * 3;
      for (long r = 0; r < 150; ++r)
        for (long c = 0; c < 150; ++c, p += 3) chips[size_t(i)](r, c) = dlib::rgb_pixel(p[0], p[1], p[2]);
    }
    const std::vector<dlib::matrix<float, 0, 1>> d = net(chips, 16);
    std::ofstream out(argv[4], std::ios::binary);
    for (const auto& v : d) {
      if (v.size() != 128) {
        std::fprintf(stderr, "graft_dlib_oracle: a descriptor has %ld values, not 128\n", long(v.size()));
        return 1;
      }
      out.write(reinterpret_cast<const char*>(&v(0)), 128 * sizeof(float));
    }
    if (!out) {
      std::fprintf(stderr, "graft_dlib_oracle: cannot write %s\n", argv[4]);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graft_dlib_oracle: %s\n", e.what());
    return 1;
  }
}
