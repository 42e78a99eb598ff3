// Writes the ONNX fuzzer's starting corpus into DIR/onnx: graft's export of a small residual
// net (folded and not) and of a net of PRelu, LeakyRelu and Softmax nodes, and the malformed
// corpus of the [onnx] tests.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/onnx_files.hpp"

using namespace graft;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_onnx_seeds DIR\n");
    return 2;
  }
  const std::filesystem::path dir = std::filesystem::path(argv[1]) / "onnx";
  std::filesystem::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& bytes) {
    std::ofstream f(dir / name, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
  };
  put("small.onnx", onnxtest::small_bytes());
  {
    auto net = onnxtest::small_net();
    nn::OnnxExportOptions o;
    o.fold_batch_norm = true;
    o.softmax = false;
    put("small-folded.onnx", io::onnx_bytes(nn::onnx_model(*net, o)));
  }
  put("acts.onnx", io::onnx_bytes(onnxtest::acts_model()));
  for (const auto& bad : onnxtest::malformed_models()) put("bad-" + bad.name, bad.bytes);
  std::printf("wrote the ONNX seeds into %s\n", dir.string().c_str());
  return 0;
}
