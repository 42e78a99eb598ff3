// ONNX files for the [onnx] malformed-input tests and the ONNX fuzzer's seeds: small valid
// models (graft's own exports of a little residual net and of a net of PRelu, LeakyRelu
// and Softmax nodes), protobuf pieces to build broken ones
// by hand, and the corpus of malformed files with the words each error must contain.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/io/onnx.hpp"
#include "graft/io/protobuf_writer.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/onnx_export.hpp"

namespace graft {
namespace onnxtest {

// A little network with a branch, BatchNorm, an affine, pooling and a classifier.
inline std::unique_ptr<nn::Network<float>> small_net() {
  auto net = std::make_unique<nn::Network<float>>(Shape{3, 8, 8});
  net->conv("conv1", 4, 3, 1, 1).batch_norm("bn1").relu("relu1");
  net->from("relu1").conv("side", 4, 1, 1, 0, false).affine("scale1");
  net->sum("add", {"relu1", "scale1"}).max_pool("pool", 2, 2).global_avg_pool("gap").fc("fc", 3);
  net->initialize(5);
  net->set_training(false);
  return net;
}
inline io::OnnxModel small_model() {
  auto net = small_net();
  io::OnnxModel m = nn::onnx_model(*net);
  m.file = "small.onnx";
  return m;
}
inline std::string small_bytes() { return io::onnx_bytes(small_model()); }

// A little network of the other activations: PRelu per channel (4-d and 2-d) and shared,
// LeakyRelu, and Softmax over the channels in the middle, of a 4-d and of a 2-d tensor.
inline std::unique_ptr<nn::Network<float>> acts_net() {
  auto net = std::make_unique<nn::Network<float>>(Shape{3, 8, 8});
  net->conv("conv1", 4, 3, 1, 1).prelu(0, "prelu1").leaky_relu(0.2, "leaky1").softmax("softmax1");
  net->conv("conv2", 6, 3, 2, 1).prelu(1, "prelu2").global_avg_pool("gap").fc("fc1", 5).prelu(0, "prelu3");
  net->softmax("softmax3").fc("fc", 3);
  net->initialize(5);
  net->set_training(false);
  return net;
}
inline io::OnnxModel acts_model() {
  auto net = acts_net();
  io::OnnxModel m = nn::onnx_model(*net);
  m.file = "acts.onnx";
  return m;
}

// Protobuf pieces.
inline std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s.push_back(char((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(char(v));
  return s;
}
inline std::string tag(uint32_t field, int wire) { return varint((uint64_t(field) << 3) | uint64_t(wire)); }
inline std::string len_field(uint32_t field, const std::string& payload) {
  return tag(field, 2) + varint(payload.size()) + payload;
}
inline std::string int_field(uint32_t field, int64_t v) { return tag(field, 0) + varint(uint64_t(v)); }
// A ModelProto around a graph's bytes, opset 13.
inline std::string model_with_graph(const std::string& graph) {
  return int_field(1, 7) + len_field(7, graph) + len_field(8, int_field(2, 13));
}
// A graph holding one initializer (a TensorProto's bytes).
inline std::string model_with_tensor(const std::string& tensor) { return model_with_graph(len_field(5, tensor)); }
inline std::string float_tensor(const std::vector<int64_t>& dims, const std::string& raw, const std::string& name = "w") {
  std::string t;
  for (int64_t d : dims) t += int_field(1, d);
  return t + int_field(2, 1) + len_field(8, name) + len_field(9, raw);
}

struct Bad {
  std::string name;    // the file name the error must start with
  std::string bytes;
  std::string expect;  // words the error must contain
};

// Files that are not well-formed ONNX models, each with the words of its error.
inline std::vector<Bad> malformed_models() {
  std::vector<Bad> v;
  const std::string good = small_bytes();
  auto add = [&](const std::string& name, const std::string& bytes, const std::string& expect) {
    v.push_back({name + ".onnx", bytes, expect});
  };
  add("empty", "", "holds no ONNX graph");
  add("truncated-half", good.substr(0, good.size() / 2), "truncated");
  add("truncated-one-byte", good.substr(0, good.size() - 1), "truncated");
  add("text", "ir_version: 7\ngraph { }\n", "");  // some protobuf error, naming the file
  add("huge-length", tag(7, 2) + varint(uint64_t(1) << 40), "claims");
  add("long-varint", std::string(1, char(0x08)) + std::string(11, char(0xff)), "varint");
  add("varint-past-64-bits", std::string(1, char(0x08)) + std::string(9, char(0xff)) + std::string(1, char(0x7f)),
      "does not fit in 64 bits");
  add("group", tag(7, 3), "group");
  add("wire-type-7", tag(7, 7), "wire type 7");
  add("field-zero", std::string(1, char(0x00)), "field number 0");
  add("two-graphs", len_field(7, "") + len_field(7, ""), "a second graph");
  add("graph-not-message", int_field(7, 5), "wire type");
  add("ir-version-as-bytes", len_field(1, "x") + len_field(7, ""), "ir_version");
  add("dims-huge", model_with_tensor(int_field(1, int64_t(1) << 40) + int_field(1, int64_t(1) << 40) + int_field(2, 1)),
      "too large");
  add("dims-negative", model_with_tensor(int_field(1, -3) + int_field(2, 1)), "negative dim");
  add("dims-too-many", model_with_tensor([] {
        std::string t;
        for (int i = 0; i < 9; ++i) t += int_field(1, 1);
        return t + int_field(2, 1);
      }()),
      "more than 8 values");
  add("tensor-bytes-short", model_with_tensor(float_tensor({2, 3}, std::string(20, '\0'))), "needs 6 values");
  add("tensor-bytes-long", model_with_tensor(float_tensor({2}, std::string(12, '\0'))), "needs 2 values");
  add("tensor-no-values", model_with_tensor(int_field(1, 4) + int_field(2, 1) + len_field(8, "w")), "needs 4 values");
  add("tensor-string", model_with_tensor(int_field(1, 1) + int_field(2, 8) + len_field(8, "s")), "data type 8");
  add("tensor-bfloat16", model_with_tensor(int_field(1, 1) + int_field(2, 16) + len_field(8, "s")), "data type 16");
  add("tensor-int64-data-for-float",
      model_with_tensor(int_field(1, 1) + int_field(2, 1) + len_field(8, "w") + len_field(7, varint(5))), "not from field 7");
  add("tensor-two-places",
      model_with_tensor(int_field(1, 1) + int_field(2, 1) + len_field(8, "w") + len_field(9, std::string(4, '\0')) +
                        len_field(4, std::string(4, '\0'))),
      "more than one place");
  add("tensor-packed-floats-ragged", model_with_tensor(int_field(1, 1) + int_field(2, 1) + len_field(4, std::string(5, '\0'))),
      "not a multiple of 4");
  add("tensor-segment", model_with_tensor(len_field(3, int_field(1, 0))), "segment");
  add("external-dotdot",
      model_with_tensor(int_field(1, 1) + int_field(2, 1) + len_field(8, "w") + int_field(14, 1) +
                        len_field(13, len_field(1, "location") + len_field(2, "../../etc/passwd"))),
      "can only be read from a model file on disk");
  add("external-no-location",
      model_with_tensor(int_field(1, 1) + int_field(2, 1) + len_field(8, "w") + int_field(14, 1)),
      "names no location");
  add("attribute-floats-ragged",
      model_with_graph(len_field(1, len_field(4, "Relu") + len_field(5, len_field(1, "a") + len_field(7, std::string(6, '\0'))))),
      "not a multiple of 4");
  add("attribute-f-as-varint",
      model_with_graph(len_field(1, len_field(4, "Relu") + len_field(5, len_field(1, "alpha") + int_field(2, 1)))),
      "attribute f");
  add("node-name-as-varint", model_with_graph(len_field(1, int_field(3, 1))), "node name");
  add("opset-version-as-bytes", len_field(7, "") + len_field(8, len_field(2, "13")), "opset version");
  add("metadata-not-message", len_field(7, "") + int_field(14, 3), "wire type");
  add("shape-dim-bytes",
      model_with_graph(len_field(11, len_field(1, "x") + len_field(2, len_field(1, int_field(1, 1) +
                                                                             len_field(2, len_field(1, len_field(1, "9"))))))),
      "dim_value");
  return v;
}

}  // namespace onnxtest
}  // namespace graft
