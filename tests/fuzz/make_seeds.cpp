// Writes the fuzzers' starting corpus into DIR/{npy,npz,pickle}: valid files graft writes
// and the malformed corpus of the [io] tests (files over 16 KiB left out: the fuzzers run
// with -max_len=16384). Pickle seeds are the bodies of caffe-tensorflow files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "graft/io/weights.hpp"
#include "support/io_corpus.hpp"

using namespace graft;

static void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error("cannot write " + path);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  for (const char* sub : {"npy", "npz", "pickle"}) std::filesystem::create_directories(dir + "/" + sub);
  std::vector<iotest::BadFile> files = iotest::malformed_corpus();
  // Valid files: one of each kind.
  const io::Array a = iotest::small_array();
  io::Array b(io::DType::i2, Shape{3});
  io::WeightsDict w;
  w.add("conv1", "weights", a);
  w.add("conv1", "biases", b);
  iotest::StringSink dict;
  io::write_caffe_tensorflow_bytes(dict, w);
  files.push_back({"valid_dict.npy", dict.s, ""});
  files.push_back({"valid.npy", iotest::npy_bytes(a), ""});
  files.push_back({"valid.npz", iotest::zip({iotest::stored("a.npy", iotest::npy_bytes(a)), iotest::deflated("b/w.npy", iotest::npy_bytes(b))}), ""});
  const std::string object_prefix = io::npy_prefix("|O", Shape{});
  int n = 0;
  for (const auto& f : files) {
    if (f.bytes.size() > 16384) continue;
    const bool npz = f.name.size() > 4 && f.name.compare(f.name.size() - 4, 4, ".npz") == 0;
    const std::string seed = "seed" + std::to_string(++n) + "_" + f.name;
    write_file(dir + (npz ? "/npz/" : "/npy/") + seed, f.bytes);
    if (!npz && f.bytes.compare(0, object_prefix.size(), object_prefix) == 0)
      write_file(dir + "/pickle/" + seed, f.bytes.substr(object_prefix.size()));
  }
  std::printf("make_seeds: %d files into %s\n", n, dir.c_str());
  return 0;
}
