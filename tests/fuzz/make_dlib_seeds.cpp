// Writes the dlib fuzzer's starting corpus into DIR/dlib: the small valid network of the
// [dlib] tests (and its re-spelled versions) and its malformed corpus, cuts included.
#include <cstdio>
#include <filesystem>
#include <string>

#include "support/dlib_files.hpp"

using namespace graft;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_dlib_seeds DIR\n");
    return 2;
  }
  const std::string dir = std::string(argv[1]) + "/dlib";
  std::filesystem::create_directories(dir);
  int n = 0;
  dlibtest::write_file(dir + "/seed" + std::to_string(++n) + "_small.dat", dlibtest::encode(dlibtest::small_net()).bytes());
  for (const auto& b : dlibtest::malformed())
    if (b.bytes.size() <= 16384) dlibtest::write_file(dir + "/seed" + std::to_string(++n) + "_" + b.name, b.bytes);
  std::printf("make_dlib_seeds: %d files into %s\n", n, dir.c_str());
  return 0;
}
