// tests/python/caffe_ref.py from a [caffe] test: Python's protobuf reads and writes Caffe
// models with a schema of its own, NumPy computes caffe-tensorflow's layouts and PyTorch the
// forward pass, independently of graft. Tests skip when Python lacks protobuf (or torch).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "support/caffe_files.hpp"
#include "support/io_files.hpp"
#include "support/skip.hpp"

namespace graft {
namespace caffetest {

// The real LeNet of the data folder: its folder, or "" (the test then skips).
inline std::string lenet_dir() {
  const std::string d = iotest::data_dir();
  if (d.empty()) return "";
  for (const char* f : {"lenet_iter_10000.caffemodel", "lenet.prototxt"})
    if (!std::filesystem::is_regular_file(d + "/caffe/" + f)) return "";
  return d + "/caffe";
}
#define GRAFT_NEED_LENET(dir)                                                                      \
  const std::string dir = ::graft::caffetest::lenet_dir();                                        \
  if (dir.empty())                                                                                 \
  GRAFT_SKIP("no caffe/lenet_iter_10000.caffemodel and lenet.prototxt in the data folder (set "     \
             "GRAFT_DATA or provide ../shared/data)")

// LeNet as the data folder's README describes it, for caffe_ref.py (weights come from the file).
inline const char* lenet_arch() {
  return R"({"input": [2, 1, 28, 28], "layers": [
    {"name": "conv1", "type": "conv", "out": 20, "k": 5}, {"name": "pool1", "type": "pool", "k": 2, "s": 2},
    {"name": "conv2", "type": "conv", "out": 50, "k": 5}, {"name": "pool2", "type": "pool", "k": 2, "s": 2},
    {"name": "ip1", "type": "fc", "out": 500}, {"name": "relu1", "type": "relu"},
    {"name": "ip2", "type": "fc", "out": 10}, {"name": "prob", "type": "softmax"}]})";
}

// A VGG-shaped chain with Caffe's names, small: 18x18 input, so that pool2 rounds up (9 -> 5)
// and fc6 sees a 6x5x5 spatial input; fc7 and fc8 follow in-place ReLU and Dropout.
inline std::string vgg_arch(int version, bool packed = true, bool dbl = false, int seed = 3) {
  return std::string(R"({"input": [2, 3, 18, 18], "version": )") + std::to_string(version) +
         R"(, "packed": )" + (packed ? "true" : "false") + R"(, "double": )" + (dbl ? "true" : "false") +
         R"(, "seed": )" + std::to_string(seed) + R"(, "layers": [
    {"name": "conv1_1", "type": "conv", "out": 4, "k": 3, "p": 1}, {"name": "relu1_1", "type": "relu"},
    {"name": "conv1_2", "type": "conv", "out": 4, "k": 3, "p": 1}, {"name": "relu1_2", "type": "relu"},
    {"name": "pool1", "type": "pool", "k": 2, "s": 2},
    {"name": "conv2_1", "type": "conv", "out": 6, "k": 3, "p": 1}, {"name": "relu2_1", "type": "relu"},
    {"name": "pool2", "type": "pool", "k": 2, "s": 2},
    {"name": "fc6", "type": "fc", "out": 7}, {"name": "relu6", "type": "relu"}, {"name": "drop6", "type": "dropout", "ratio": 0.5},
    {"name": "fc7", "type": "fc", "out": 5}, {"name": "relu7", "type": "relu"}, {"name": "drop7", "type": "dropout", "ratio": 0.5},
    {"name": "fc8", "type": "fc", "out": 3}, {"name": "prob", "type": "softmax"}]})";
}

// A ResNet-shaped graph with Caffe's ResNet-50 names, small (caffe_ref.py's graph form). V2:
// conv1 without bias, BatchNorm (scale factors 0.75 and 2, one eps 1e-3, one use_global_stats)
// and Scale (with and without bias) in place, ReLU in place, an AVE pool whose last ceil-mode
// window runs past the padding (12 -> 7, the divisor rule), a projection branch and a two-conv
// branch summed by an Eltwise, an identity block with coeff 1, -0.5, global average pooling
// and an InnerProduct without bias. V1 has no BatchNorm or Scale (Caffe's V1 enum lacks
// them): convolutions with biases, ELTWISE with coeff 0.5, 2, the same pooling.
inline std::string residual_arch(int version, int seed = 4) {
  const std::string head = R"({"graph": true, "input": [2, 3, 12, 12], "version": )" + std::to_string(version) +
                           R"(, "seed": )" + std::to_string(seed) + R"(, "layers": [)";
  if (version == 1)
    return head + R"(
    {"name": "conv1", "type": "conv", "out": 4, "k": 3, "p": 1}, {"name": "conv1_relu", "type": "relu"},
    {"name": "pool1", "type": "pool", "pool": "ave", "k": 3, "s": 2, "p": 1},
    {"name": "res2a_branch1", "type": "conv", "out": 5, "k": 1, "bottom": ["pool1"]},
    {"name": "res2a_branch2a", "type": "conv", "out": 3, "k": 3, "p": 1, "bottom": ["pool1"]},
    {"name": "res2a_branch2a_relu", "type": "relu"},
    {"name": "res2a_branch2b", "type": "conv", "out": 5, "k": 3, "p": 1},
    {"name": "res2a", "type": "eltwise", "bottom": ["res2a_branch1", "res2a_branch2b"], "coeff": [0.5, 2.0]},
    {"name": "res2a_relu", "type": "relu"},
    {"name": "pool5", "type": "pool", "pool": "ave", "global": true},
    {"name": "fc3", "type": "fc", "out": 3}, {"name": "prob", "type": "softmax"}]})";
  return head + R"(
    {"name": "conv1", "type": "conv", "out": 4, "k": 3, "p": 1, "bias": false},
    {"name": "bn_conv1", "type": "bn", "factor": 0.75, "global_stats": true},
    {"name": "scale_conv1", "type": "scale", "bias": true}, {"name": "conv1_relu", "type": "relu"},
    {"name": "pool1", "type": "pool", "pool": "ave", "k": 3, "s": 2, "p": 1},
    {"name": "res2a_branch1", "type": "conv", "out": 6, "k": 1, "bias": false, "bottom": ["pool1"]},
    {"name": "bn2a_branch1", "type": "bn", "eps": 0.001},
    {"name": "scale2a_branch1", "type": "scale", "bias": true},
    {"name": "res2a_branch2a", "type": "conv", "out": 3, "k": 1, "bias": false, "bottom": ["pool1"]},
    {"name": "bn2a_branch2a", "type": "bn", "factor": 2.0},
    {"name": "scale2a_branch2a", "type": "scale", "bias": true}, {"name": "res2a_branch2a_relu", "type": "relu"},
    {"name": "res2a_branch2b", "type": "conv", "out": 6, "k": 3, "p": 1, "bias": false},
    {"name": "bn2a_branch2b", "type": "bn"}, {"name": "scale2a_branch2b", "type": "scale"},
    {"name": "res2a", "type": "eltwise", "bottom": ["res2a_branch1", "res2a_branch2b"]},
    {"name": "res2a_relu", "type": "relu"},
    {"name": "res2b_branch2a", "type": "conv", "out": 6, "k": 3, "p": 1, "bias": false},
    {"name": "bn2b_branch2a", "type": "bn"}, {"name": "scale2b_branch2a", "type": "scale", "bias": true},
    {"name": "res2b", "type": "eltwise", "bottom": ["res2a", "res2b_branch2a"], "coeff": [1.0, -0.5]},
    {"name": "res2b_relu", "type": "relu"},
    {"name": "pool5", "type": "pool", "pool": "ave", "global": true},
    {"name": "fc5", "type": "fc", "out": 5, "bias": false}, {"name": "prob", "type": "softmax"}]})";
}

class CaffeRef : public iotest::TempDir {
 public:
  explicit CaffeRef(bool torch = false) {
    python_ = iotest::test_python();
    if (python_.empty()) GRAFT_SKIP("no Python with numpy was found at configure time");
    const int rc = run(torch ? "probe torch" : "probe");
    if (rc == 77) GRAFT_SKIP(std::string("Python lacks protobuf or numpy") + (torch ? " or torch" : "") +
                             " (install python3-protobuf)");
    if (rc != 0) throw Error("caffe_ref.py probe failed");
  }
  // Runs `caffe_ref.py ARGS` (ARGS already quoted); returns its exit status.
  int run(const std::string& args) const {
    const std::string line = shell_quote(python_) + " " + shell_quote(std::string(GRAFT_TEST_SCRIPTS) + "/caffe_ref.py") +
                             " " + args;
    const int rc = std::system(line.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  }
  void make(const std::string& args) const {
    if (run(args) != 0) throw Error("caffe_ref.py " + args.substr(0, 60) + " failed");
  }
  // Writes sub/net.prototxt and sub/net.caffemodel for `arch`; returns the folder.
  std::string write(const std::string& sub, const std::string& arch) const {
    std::filesystem::create_directories(path(sub));
    make("write " + shell_quote(path(sub)) + " " + shell_quote(arch));
    return path(sub);
  }
  bool check_convert(const std::string& model, const std::string& arch, const std::string& npy, const std::string& npz) const {
    return run("check-convert " + shell_quote(model) + " " + shell_quote(arch) + " " + shell_quote(npy) + " " +
               shell_quote(npz)) == 0;
  }

  struct Blob {
    std::string layer;
    int index;
    std::string dtype;
    Shape shape;
    std::string bytes;
  };
  struct LayerRow {
    std::string name, type;
    int blobs;
  };
  // What protobuf reads from `model`.
  void read(const std::string& model, std::vector<LayerRow>& layers, std::vector<Blob>& blobs) const {
    const std::string d = path("blobs-" + std::to_string(++n_));
    std::filesystem::create_directories(d);
    make("blobs " + shell_quote(model) + " " + shell_quote(d));
    for (const auto& r : read_tsv(d + "/layers.tsv")) layers.push_back({r.at(0), r.at(1), std::stoi(r.at(2))});
    for (const auto& r : read_tsv(d + "/blobs.tsv"))
      blobs.push_back({r.at(0), std::stoi(r.at(1)), r.at(2), parse_dims(r.at(3)), read_file(d + "/" + r.at(4))});
  }

 private:
  std::string python_;
  mutable int n_ = 0;
};

}  // namespace caffetest
}  // namespace graft
