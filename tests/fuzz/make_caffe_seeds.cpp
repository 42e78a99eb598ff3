// Writes the Caffe fuzzers' starting corpus into DIR/caffemodel and DIR/prototxt: valid V1 and
// V2 models and the malformed corpus of the [caffe] tests, and prototxts in V1 and V2 syntax.
#include <cstdio>
#include <filesystem>
#include <string>

#include "support/caffe_files.hpp"

using namespace graft;

static const char* kPrototxts[] = {
    R"(name: "v1"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 12 input_dim: 12
layers { bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION convolution_param { num_output: 4 pad: 1 kernel_size: 3 } }
layers { bottom: "conv1" top: "conv1" name: "relu1" type: RELU }
layers { bottom: "conv1" top: "pool1" name: "pool1" type: POOLING pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { bottom: "pool1" top: "fc6" name: "fc6" type: INNER_PRODUCT inner_product_param { num_output: 8 } }
layers { bottom: "fc6" top: "fc6" name: "drop6" type: DROPOUT dropout_param { dropout_ratio: 0.5 } }
layers { bottom: "fc6" top: "prob" name: "prob" type: SOFTMAX }
)",
    R"(name: "v2"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 1 dim: 1 dim: 28 dim: 28 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 }
        convolution_param { num_output: 20 kernel_h: 5 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 0 pad_w: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1" include { phase: TEST } inner_product_param { num_output: 10 bias_term: false } }
layer { name: "acc" type: "Accuracy" bottom: "ip1" top: "acc" include { phase: TRAIN } }
)",
    R"(# global pooling and list syntax
input: 'x' input_shape < dim: [2, 3, 7, 7] >
layer { name: "c"; type: "Convolution"; bottom: "x"; top: "c"; convolution_param { num_output: 2, kernel_size: [3, 1] } }
layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { global_pooling: true } }
)",
};

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_caffe_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir + "/caffemodel");
  std::filesystem::create_directories(dir + "/prototxt");
  std::vector<caffetest::BadModel> models = caffetest::malformed_models();
  models.push_back({"small.caffemodel", caffetest::small_model(), ""});
  models.push_back({"small_v1.caffemodel", caffetest::small_model_v1(), ""});
  int n = 0;
  for (const auto& m : models)
    if (m.bytes.size() <= 16384) caffetest::write_file(dir + "/caffemodel/seed" + std::to_string(++n) + "_" + m.name, m.bytes);
  int k = 0;
  for (const char* p : kPrototxts) caffetest::write_file(dir + "/prototxt/seed" + std::to_string(++k) + ".prototxt", p);
  std::printf("make_caffe_seeds: %d models, %d prototxts into %s\n", n, k, dir.c_str());
  return 0;
}
