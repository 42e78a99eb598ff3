// [onnx] Hostile and broken ONNX files: each gives one graft::Error naming the file (and, for
// the wire format, the offset) and what is wrong; none crashes or allocates what the file
// merely claims (the process runs under a 3 GiB address-space limit). External data may not
// leave the model's folder. Graphs graft cannot build (an operator, an attribute value, a
// wiring it does not take): one error naming the file, the node, its op type and the opset;
// for PRelu, LeakyRelu and Softmax also the expected and the actual slope shape or axis.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "graft/cpu.hpp"
#include "graft/io/onnx.hpp"
#include "graft/nn/onnx.hpp"
#include "support/image_files.hpp"
#include "support/onnx_files.hpp"

using namespace graft;
using namespace graft::io;

namespace {
void limit_memory() {
  struct rlimit r;
  r.rlim_cur = r.rlim_max = rlim_t(3) << 30;
  REQUIRE(setrlimit(RLIMIT_AS, &r) == 0);
}

std::string try_read(const std::string& bytes, const std::string& name, const ReadLimits& limits = {}) {
  MemorySource src(bytes.data(), bytes.size(), name);
  try {
    read_onnx(src, "", limits);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

std::string try_plan(const OnnxModel& m) {
  try {
    nn::onnx_plan(m);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

// A change to a valid model and the words its planning error must hold.
struct Mutation {
  const char* what;
  std::function<void(OnnxModel&)> change;
  const char* expect;
};

// Each mutation of `base` fails to plan with an error that starts with the file's name and
// holds the expected words.
void check_mutations(const OnnxModel& base, const std::vector<Mutation>& cases, const std::string& file) {
  for (const auto& c : cases) {
    INFO(c.what);
    OnnxModel m = base;
    c.change(m);
    const std::string e = try_plan(m);
    INFO("error: " << e);
    CHECK(e.rfind(file + ": ", 0) == 0);
    CHECK(e.find(c.expect) != std::string::npos);
  }
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
}  // namespace

TEST_CASE("Each malformed ONNX file gives a clear error naming the file", "[onnx]") {
  limit_memory();
  const auto corpus = onnxtest::malformed_models();
  REQUIRE(corpus.size() >= 30);
  for (const auto& bad : corpus) {
    INFO(bad.name);
    const std::string e = try_read(bad.bytes, bad.name);
    INFO("error: " << e);
    REQUIRE(!e.empty());
    CHECK(e.rfind(bad.name + ": ", 0) == 0);
    CHECK(e.find(bad.expect) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
  // Every prefix of a valid model fails cleanly or reads as a (shorter) model.
  const std::string good = onnxtest::small_bytes();
  for (size_t n = 0; n < good.size(); n += 7) {
    MemorySource src(good.data(), n, "prefix.onnx");
    try {
      read_onnx(src);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).rfind("prefix.onnx: ", 0) == 0);
    }
  }
}

TEST_CASE("A valid ONNX model reads back exactly, and limits on nesting and counts hold", "[onnx]") {
  const std::string good = onnxtest::small_bytes();
  MemorySource src(good.data(), good.size(), "small.onnx");
  const OnnxModel m = read_onnx(src);
  CHECK(m.opset() == 13);
  CHECK(m.graph.inputs.size() == 1);
  CHECK(m.graph.inputs[0].dims == std::vector<int64_t>({-1, 3, 8, 8}));
  CHECK(m.graph.inputs[0].dim_params[0] == "batch");
  CHECK(onnx_bytes(m) == good);  // what graft writes, it reads and writes again byte for byte
  ReadLimits shallow;
  shallow.max_nesting = 2;
  CHECK(try_read(good, "deep.onnx", shallow).find("nested more than 2 messages deep") != std::string::npos);
  ReadLimits few;
  few.max_layers = 4;
  CHECK(try_read(good, "many.onnx", few).find("(ReadLimits::max_layers)") != std::string::npos);
  ReadLimits small;
  small.max_total_bytes = 64;
  CHECK(try_read(good, "big.onnx", small).find("ReadLimits::max_total_bytes") != std::string::npos);
  small = ReadLimits();
  small.max_array_bytes = 16;
  CHECK(try_read(good, "big.onnx", small).find("ReadLimits::max_array_bytes") != std::string::npos);
  // Packed and unpacked repeated numbers read alike (protobuf requires both of a reader).
  const std::string packed = onnxtest::model_with_tensor(onnxtest::len_field(1, onnxtest::varint(2) + onnxtest::varint(1)) +
                                                         onnxtest::int_field(2, 1) + onnxtest::len_field(8, "w") +
                                                         onnxtest::len_field(4, std::string(8, '\0')));
  MemorySource ps(packed.data(), packed.size(), "packed.onnx");
  const OnnxModel pm = read_onnx(ps);
  REQUIRE(pm.graph.initializers.size() == 1);
  CHECK(pm.graph.initializers[0].data.shape() == Shape({2, 1}));
}

TEST_CASE("External data is read from inside the model's folder only", "[onnx]") {
  test::TempDir dir("onnx-external");
  const std::string d = dir.path().string();
  std::filesystem::create_directories(d + "/model/data");
  std::filesystem::create_directories(d + "/outside");
  const float vals[3] = {1.5f, -2.0f, 0.25f};
  std::string raw(reinterpret_cast<const char*>(vals), 12);
  write_file(d + "/model/data/w.bin", std::string(4, 'x') + raw);
  write_file(d + "/outside/w.bin", raw);
  std::filesystem::create_symlink(d + "/outside", d + "/model/link");
  auto model = [&](const std::string& location, const std::string& offset, const std::string& length) {
    using namespace onnxtest;
    std::string ext = len_field(13, len_field(1, "location") + len_field(2, location));
    if (!offset.empty()) ext += len_field(13, len_field(1, "offset") + len_field(2, offset));
    if (!length.empty()) ext += len_field(13, len_field(1, "length") + len_field(2, length));
    return model_with_tensor(int_field(1, 3) + int_field(2, 1) + len_field(8, "w") + int_field(14, 1) + ext);
  };
  auto read = [&](const std::string& bytes) -> std::string {
    write_file(d + "/model/m.onnx", bytes);
    try {
      const OnnxModel m = read_onnx(d + "/model/m.onnx");
      REQUIRE(m.graph.initializers.size() == 1);
      const Array& a = m.graph.initializers[0].data;
      REQUIRE(a.shape() == Shape({3}));
      CHECK(std::memcmp(a.data(), vals, 12) == 0);
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  };
  CHECK(read(model("data/w.bin", "4", "12")) == "");
  CHECK(read(model("./data/w.bin", "4", "")) == "");
  CHECK(read(model("../outside/w.bin", "", "")).find("leaves the model's folder") != std::string::npos);
  CHECK(read(model(d + "/outside/w.bin", "", "")).find("leaves the model's folder") != std::string::npos);
  CHECK(read(model("link/w.bin", "", "")).find("outside the model's folder") != std::string::npos);
  CHECK(read(model("data/w.bin", "4", "8")).find("length 8 differs") != std::string::npos);
  CHECK(read(model("data/w.bin", "8", "")).find("too few") != std::string::npos);
  CHECK(read(model("data/w.bin", "-1", "")).find("is not a number") != std::string::npos);
  CHECK(read(model("data/w.bin", "99999999999999999999999", "")).find("is not a number") != std::string::npos);
  CHECK(read(model("data/missing.bin", "", "")).find("cannot open") != std::string::npos);
  CHECK(read(model("data", "", "")).find("not a regular file") != std::string::npos);
}

TEST_CASE("ONNX graphs graft cannot build: an error naming the file, the node, its op type and the opset", "[onnx]") {
  const OnnxModel base = onnxtest::small_model();
  REQUIRE(try_plan(base) == "");
  auto node = [](OnnxModel& m, const std::string& op) -> OnnxNode& {
    for (auto& n : m.graph.nodes)
      if (n.op_type == op) return n;
    throw Error("no " + op);
  };
  auto named = [](OnnxModel& m, const std::string& name) -> OnnxNode& {
    for (auto& n : m.graph.nodes)
      if (n.name == name) return n;
    throw Error("no node " + name);
  };
  auto set_ints = [](OnnxNode& n, const std::string& name, std::vector<int64_t> v) {
    for (auto& a : n.attributes)
      if (a.name == name) a.ints = v;
  };
  auto add_int = [](OnnxNode& n, const std::string& name, int64_t v) {
    OnnxAttribute a;
    a.name = name;
    a.type = OnnxAttrType::i;
    a.i = v;
    n.attributes.push_back(a);
  };
  const std::vector<Mutation> cases = {
      {"an unknown operator", [&](OnnxModel& m) { node(m, "Relu").op_type = "LSTM"; },
       "small.onnx: node 'relu1' (LSTM, opset 13): graft cannot build this operator"},
      {"another domain", [&](OnnxModel& m) { node(m, "Relu").domain = "com.microsoft"; }, "(Relu, opset 13): domain"},
      {"opset 8", [&](OnnxModel& m) { m.opsets = {{"", 8}}; }, "opset 8; graft reads opsets 9 to 17"},
      {"opset 18", [&](OnnxModel& m) { m.opsets = {{"", 18}}; }, "opset 18; graft reads opsets 9 to 17"},
      {"no default opset", [&](OnnxModel& m) { m.opsets = {{"ai.onnx.ml", 3}}; }, "imports no operator set"},
      {"a grouped convolution",
       [&](OnnxModel& m) {
         for (auto& a : node(m, "Conv").attributes)
           if (a.name == "group") a.i = 2;
       },
       "(Conv, opset 13): group 2: graft convolves with group 1 only"},
      {"a dilated convolution", [&](OnnxModel& m) { set_ints(node(m, "Conv"), "dilations", {2, 2}); }, "dilation 2"},
      {"asymmetric padding", [&](OnnxModel& m) { set_ints(node(m, "Conv"), "pads", {1, 1, 0, 0}); }, "differ at the two ends"},
      {"a 3-d kernel", [&](OnnxModel& m) { set_ints(node(m, "Conv"), "kernel_shape", {3, 3, 3}); }, "kernel_shape has 3 values"},
      {"an unknown attribute", [&](OnnxModel& m) { add_int(node(m, "Relu"), "alpha", 1); }, "(Relu, opset 13): graft does not build attribute 'alpha'"},
      {"an input no node gives", [&](OnnxModel& m) { node(m, "Relu").inputs[0] = "nowhere"; }, "reads 'nowhere', which no earlier node"},
      {"a weight computed in the graph", [&](OnnxModel& m) { node(m, "Conv").inputs[1] = "input"; }, "is computed in the graph"},
      {"no graph output", [&](OnnxModel& m) { m.graph.outputs.clear(); }, "the graph has 0 outputs"},
      {"two graph inputs", [&](OnnxModel& m) { m.graph.inputs.push_back(m.graph.inputs[0]); m.graph.inputs.back().name = "x2"; },
       "graft builds networks with one input"},
      {"a symbolic image size", [&](OnnxModel& m) { m.graph.inputs[0].dims[2] = -1; }, "needs the channels and the image size fixed"},
      {"an integer input", [&](OnnxModel& m) { m.graph.inputs[0].elem_type = onnx_type::kInt64; }, "graft takes float (1) input"},
      {"a Softmax over the width (opset 13's default axis -1 of a 4-d input)",
       [&](OnnxModel& m) { node(m, "Relu").op_type = "Softmax"; },
       "node 'relu1' (Softmax, opset 13): axis -1: graft's Softmax is over the channels (axis 1) of the input (1, 4, 8, 8)"},
      {"a mask output read",
       [&](OnnxModel& m) {
         OnnxNode& bn = node(m, "BatchNormalization");
         bn.outputs.push_back("bn_mean");
         node(m, "Relu").inputs[0] = "bn_mean";
       },
       "an output graft does not compute"},
      {"training-mode BatchNorm", [&](OnnxModel& m) { add_int(node(m, "BatchNormalization"), "training_mode", 1); },
       "training_mode 1"},
      {"a dangling node",
       [&](OnnxModel& m) {
         OnnxNode extra = node(m, "Relu");
         extra.name = "extra";
         extra.outputs = {"extra"};
         m.graph.nodes.insert(m.graph.nodes.begin() + 3, extra);
       },
       "its output is read by nothing"},
      {"a duplicate node name", [&](OnnxModel& m) { node(m, "Relu").name = "conv1"; }, "a second node named 'conv1'"},
      {"a node named input", [&](OnnxModel& m) { node(m, "Relu").name = "input"; }, "may not be"},
      {"max pool indices", [&](OnnxModel& m) { node(m, "MaxPool").outputs.push_back("idx"); }, "no pooling indices"},
      {"a reshape graft does not do",
       [&](OnnxModel& m) {
         OnnxNode& g = node(m, "GlobalAveragePool");
         OnnxNode r;
         r.op_type = "Reshape";
         r.name = "reshape";
         r.inputs = {g.outputs[0], "shape"};
         r.outputs = {"reshaped"};
         OnnxTensor t;
         t.name = "shape";
         t.data = Array(DType::i8, Shape{3});
         const int64_t s[3] = {1, 2, -1};
         std::memcpy(t.data.data(), s, 24);
         m.graph.initializers.push_back(t);
         node(m, "Gemm").inputs[0] = "reshaped";
         for (size_t i = 0; i < m.graph.nodes.size(); ++i)
           if (m.graph.nodes[i].op_type == "GlobalAveragePool") {
             m.graph.nodes.insert(m.graph.nodes.begin() + long(i) + 1, r);
             break;
           }
       },
       "reshape to (1, 2, -1): graft reshapes only to (batch, -1)"},
      {"a Mul of two tensors", [&](OnnxModel& m) { named(m, "add").op_type = "Mul"; }, "not by another tensor"},
      {"broadcasting adds", [&](OnnxModel& m) { named(m, "add").inputs[1] = "pool"; }, "reads 'pool', which no earlier node"},
      {"adds of two shapes",
       [&](OnnxModel& m) {
         OnnxNode& a = named(m, "add");
         a.inputs[1] = "input";
       },
       "(no broadcasting)"},
      {"the output not last",
       [&](OnnxModel& m) {
         m.graph.nodes.pop_back();  // the final Softmax
         m.graph.outputs[0].name = node(m, "Relu").outputs[0];
       },
       "is not the result of its last node"},
  };
  check_mutations(base, cases, "small.onnx");
}

namespace {
OnnxNode& named_node(OnnxModel& m, const std::string& name) {
  for (auto& n : m.graph.nodes)
    if (n.name == name) return n;
  throw Error("no node " + name);
}
Array float_array(const Shape& shape, float first) {
  Array a(DType::f4, shape);
  for (int64_t i = 0; i < a.size(); ++i) {
    const float f = first + 0.125f * float(i);
    std::memcpy(a.data() + 4 * i, &f, 4);
  }
  return a;
}
// Replaces the initializer `name` by `a`.
void set_initializer(OnnxModel& m, const std::string& name, Array a) {
  for (auto& t : m.graph.initializers)
    if (t.name == name) {
      t.data = std::move(a);
      return;
    }
  throw Error("no initializer " + name);
}
void set_attr(OnnxNode& n, OnnxAttribute a) {
  for (auto& b : n.attributes)
    if (b.name == a.name) {
      b = a;
      return;
    }
  n.attributes.push_back(a);
}
OnnxAttribute int_attr(const char* name, int64_t v) {
  OnnxAttribute a;
  a.name = name;
  a.type = OnnxAttrType::i;
  a.i = v;
  return a;
}
}  // namespace

TEST_CASE("ONNX PRelu, LeakyRelu and Softmax nodes graft cannot build: the node, the expected, the actual", "[onnx]") {
  const OnnxModel base = onnxtest::acts_model();
  REQUIRE(try_plan(base) == "");
  const std::vector<Mutation> cases = {
      {"a slope varying over the image",
       [](OnnxModel& m) { set_initializer(m, "prelu1.slope", float_array(Shape{4, 8, 8}, 0.1f)); },
       "acts.onnx: node 'prelu1' (PRelu, opset 13): the slope has shape (4, 8, 8); graft's PRelu has one slope, or "
       "one per channel: (C, 1, 1) or (1, C, 1, 1) with C = 4 for the input (1, 4, 8, 8)"},
      {"a slope of another channel count",
       [](OnnxModel& m) { set_initializer(m, "prelu1.slope", float_array(Shape{3, 1, 1}, 0.1f)); },
       "node 'prelu1' (PRelu, opset 13): the slope has shape (3, 1, 1); graft's PRelu has one slope, or one per "
       "channel: (C, 1, 1) or (1, C, 1, 1) with C = 4"},
      {"a (C) slope of a 4-d input (ONNX lines it up with the width)",
       [](OnnxModel& m) { set_initializer(m, "prelu1.slope", float_array(Shape{4}, 0.1f)); },
       "node 'prelu1' (PRelu, opset 13): the slope has shape (4,); graft's PRelu"},
      {"a 2-d input's slope of another length",
       [](OnnxModel& m) { set_initializer(m, "prelu3.slope", float_array(Shape{1, 4}, 0.1f)); },
       "node 'prelu3' (PRelu, opset 13): the slope has shape (1, 4); graft's PRelu has one slope, or one per "
       "channel: (C,) or (1, C) with C = 5 for the input (1, 5)"},
      {"a slope of integers",
       [](OnnxModel& m) { set_initializer(m, "prelu2.slope", Array(DType::i8, Shape{1})); },
       "node 'prelu2' (PRelu, opset 13): the slope holds int64; graft needs floats"},
      {"a slope computed in the graph", [](OnnxModel& m) { named_node(m, "prelu2").inputs[1] = "conv2"; },
       "node 'prelu2' (PRelu, opset 13): the slope (input 1, 'conv2') is computed in the graph"},
      {"a Softmax over axis 2 of a 4-d input",
       [](OnnxModel& m) { set_attr(named_node(m, "softmax1"), int_attr("axis", 2)); },
       "node 'softmax1' (Softmax, opset 13): axis 2: graft's Softmax is over the channels (axis 1) of the input "
       "(1, 4, 8, 8)"},
      {"a Softmax axis out of range",
       [](OnnxModel& m) { set_attr(named_node(m, "softmax3"), int_attr("axis", -3)); },
       "node 'softmax3' (Softmax, opset 13): axis -3 is outside the 2 axes of the input (1, 5)"},
      {"opset 11's axis 1 of a 4-d input (C, H, W flattened into one softmax)",
       [](OnnxModel& m) { m.opsets = {{"", 11}}; },
       "node 'softmax1' (Softmax, opset 11): axis 1 at opset 11 normalises over the channels and the image "
       "together"},
      {"a LeakyRelu alpha that is an integer",
       [](OnnxModel& m) { set_attr(named_node(m, "leaky1"), int_attr("alpha", 1)); },
       "node 'leaky1' (LeakyRelu, opset 13): attribute alpha has type 2 (INT), expected 1 (FLOAT)"},
      {"a LeakyRelu alpha that is not finite",
       [](OnnxModel& m) {
         for (auto& a : named_node(m, "leaky1").attributes)
           if (a.name == "alpha") a.f = std::numeric_limits<float>::infinity();
       },
       "node 'leaky1' (LeakyRelu, opset 13): alpha inf is not finite"},
      {"a LeakyRelu attribute ONNX does not have",
       [](OnnxModel& m) { set_attr(named_node(m, "leaky1"), int_attr("beta", 1)); },
       "node 'leaky1' (LeakyRelu, opset 13): graft does not build attribute 'beta'"},
  };
  check_mutations(base, cases, "acts.onnx");
}

TEST_CASE("ONNX Softmax and PRelu forms graft builds, and a final Softmax left out", "[onnx]") {
  auto kinds = [](const nn::OnnxPlan& p) {
    std::string s;
    for (const auto& n : p.nodes) s += n.op_type + " ";
    return s;
  };
  const OnnxModel base = onnxtest::acts_model();
  {
    // graft's export: both Softmax nodes kept, the final "probabilities" one left out.
    const nn::OnnxPlan p = nn::onnx_plan(base);
    CHECK(base.graph.nodes.back().op_type == "Softmax");
    CHECK(kinds(p) == "Conv PRelu LeakyRelu Softmax Conv PRelu GlobalAveragePool Flatten Gemm PRelu Softmax Gemm ");
    CHECK(p.nodes[3].kind == nn::OnnxPlanNode::softmax);
    CHECK(p.nodes.back().name == "fc");
    CHECK(p.nodes[1].outputs == 4);  // per channel
    CHECK(p.nodes[5].outputs == 1);  // shared
    CHECK(p.nodes[9].outputs == 5);
    CHECK(std::abs(p.nodes[2].alpha - 0.2) < 1e-7);
  }
  {
    // Without the axis: opset 13's default -1 is the channels of (n, C).
    OnnxModel m = base;
    auto& at = named_node(m, "softmax3").attributes;
    at.clear();
    CHECK(try_plan(m) == "");
  }
  {
    // Before opset 13 the default axis 1 of (n, C, 1, 1) is the channels (nothing to flatten
    // with them), and of (n, C) too; a PRelu slope of ones' shape is shared.
    auto net = std::make_unique<nn::Network<float>>(Shape{3, 4, 4});
    net->conv("conv1", 6, 4, 1, 0).softmax("sm").prelu(1, "pr").flatten("flat").fc("fc", 3);
    net->initialize(2);
    OnnxModel m = nn::onnx_model(*net);
    m.file = "acts11.onnx";
    m.opsets = {{"", 11}};
    named_node(m, "sm").attributes.clear();
    set_initializer(m, "pr.slope", float_array(Shape{1, 1, 1, 1}, 0.3f));
    const nn::OnnxPlan p = nn::onnx_plan(m);
    CHECK(kinds(p) == "Conv Softmax PRelu Flatten Gemm ");
    CHECK(p.nodes[2].outputs == 1);
    CHECK(p.nodes.back().name == "fc");
  }
}
