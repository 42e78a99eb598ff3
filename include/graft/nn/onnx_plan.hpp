// The network an ONNX graph describes, planned without building it: one OnnxPlanNode per graft
// node (what to build, what it reads, its output shape, its weights in graft's layouts), for
// nn/onnx.hpp to build on any device and to load. It knows ONNX and graft's layer kinds, but
// no layer class (the fuzzer plans hostile files with it). The rules are nn/onnx.hpp's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/onnx.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/weights.hpp"

namespace graft {
namespace nn {

constexpr int64_t kOnnxMinOpset = 9, kOnnxMaxOpset = 17;

struct OnnxBuildOptions {
  // > 0: the output layer (the last node, a Gemm, MatMul or Conv) gets this many outputs: a
  // new head for another task (its weights then come from nowhere: skip it when loading).
  int64_t outputs = 0;
};

// One graft node of an ONNX graph: what to build and the parameters it reads, in graft's
// layouts.
struct OnnxPlanNode {
  enum Kind {
    conv, linear, relu, max_pool, avg_pool, global_avg_pool, batch_norm, affine, add, dropout, flatten,
    leaky_relu, prelu, softmax
  };
  Kind kind = relu;
  std::string name, op_type;
  std::vector<std::string> inputs;  // graft node names ("input": the network's input)
  Shape out;                        // output shape for a batch of one
  Window2d window;                  // conv, pools
  int64_t outputs = 0;              // conv channels, linear features; prelu: slopes (1: shared)
  bool bias = false;                // conv, linear; affine: has an offset; add: zero-pads
  bool count_pad = true;            // avg_pool
  bool fixed_scale = false;         // affine from an Add: its scale is fixed at 1
  double eps = 1e-5, momentum = 0.1;  // batch_norm (graft's momentum)
  float p = 0.5f;                   // dropout
  double alpha = 0.01;              // leaky_relu: the slope below 0
  std::vector<std::pair<std::string, io::Array>> params;  // graft parameter name -> values
};

struct OnnxPlan {
  std::string file;
  int64_t opset = 0;
  Shape sample;  // the input without its batch dimension
  std::string input_name, output_name;
  std::vector<OnnxPlanNode> nodes;
};

// `plan` with its output node (a Gemm, MatMul or Conv) giving `outputs` values: a new head
// for another task, with no weights (skip it when loading the file).
inline void onnx_with_outputs(OnnxPlan& plan, int64_t outputs) {
  GRAFT_CHECK(outputs >= 1, plan.file, ": a network needs at least one output, asked for ", outputs);
  GRAFT_CHECK(!plan.nodes.empty(), plan.file, ": the graph builds no node");
  OnnxPlanNode& last = plan.nodes.back();
  GRAFT_CHECK(last.kind == OnnxPlanNode::linear || last.kind == OnnxPlanNode::conv, plan.file, ": the output node ",
              io::quote(last.name), " is a ", last.op_type, "; only a Gemm, MatMul or Conv output can be given ", outputs,
              " outputs");
  last.outputs = outputs;
  std::vector<int64_t> d = last.out.dims();
  d[1] = outputs;
  last.out = Shape(d);
  last.params.clear();
}

namespace detail {

inline std::string onnx_ops() {
  return "Conv, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu, PRelu, MaxPool, AveragePool, GlobalAveragePool, "
         "Add, Mul, Pad (zeros at the end, before an Add), Flatten, Reshape, Dropout, Softmax (over the channels), "
         "Identity, Constant";
}

// An array of `dtype` (f4 or f8) holding values[i].
inline io::Array onnx_array(io::DType dtype, const Shape& shape, const std::vector<double>& v) {
  io::Array a(dtype, shape);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == io::DType::f8) std::memcpy(a.data() + 8 * i, &v[i], 8);
    else {
      const float f = float(v[i]);
      std::memcpy(a.data() + 4 * i, &f, 4);
    }
  }
  return a;
}
inline std::vector<double> onnx_values(const io::Array& a) {
  std::vector<double> v(size_t(a.size()));
  for (int64_t i = 0; i < a.size(); ++i) v[size_t(i)] = a.value(i);
  return v;
}
inline io::DType onnx_param_dtype(const io::Array& a) { return a.dtype() == io::DType::f8 ? io::DType::f8 : io::DType::f4; }

class OnnxPlanner {
 public:
  OnnxPlanner(const io::OnnxModel& m, const OnnxBuildOptions& o) : m_(m), o_(o) {}

  OnnxPlan run() {
    plan_.file = m_.file;
    plan_.opset = m_.opset();
    GRAFT_CHECK(plan_.opset != 0, m_.file, ": imports no operator set of the default domain (ai.onnx)");
    GRAFT_CHECK(plan_.opset >= kOnnxMinOpset && plan_.opset <= kOnnxMaxOpset, m_.file, ": opset ", plan_.opset,
                "; graft reads opsets ", kOnnxMinOpset, " to ", kOnnxMaxOpset);
    const io::OnnxGraph& g = m_.graph;
    for (const auto& t : g.initializers) {
      GRAFT_CHECK(!t.name.empty(), m_.file, ": offset ", t.offset, ": an initializer without a name");
      GRAFT_CHECK(!values_.count(t.name), m_.file, ": offset ", t.offset, ": a second initializer named ", io::quote(t.name));
      Value v;
      v.kind = Value::constant;
      v.array = &t.data;
      values_[t.name] = v;
    }
    // The network's input: the one graph input that is not an initializer.
    const io::OnnxValueInfo* in = nullptr;
    for (const auto& vi : g.inputs) {
      if (values_.count(vi.name)) continue;  // IR < 4 lists initializers as inputs too
      GRAFT_CHECK(!in, m_.file, ": the graph has inputs ", io::quote(in ? in->name : ""), " and ", io::quote(vi.name),
                  "; graft builds networks with one input");
      in = &vi;
    }
    GRAFT_CHECK(in, m_.file, ": the graph has no input (every input is an initializer)");
    GRAFT_CHECK(in->elem_type == io::onnx_type::kFloat, m_.file, ": input ", io::quote(in->name), " has element type ",
                in->elem_type, "; graft takes float (1) input");
    GRAFT_CHECK(in->has_shape && (in->dims.size() == 4 || in->dims.size() == 2), m_.file, ": input ",
                io::quote(in->name), " needs a shape (batch, channels, height, width) or (batch, features), got ",
                in->has_shape ? std::to_string(in->dims.size()) + " dims" : std::string("no shape"));
    std::vector<int64_t> sample, one{1};
    for (size_t i = 1; i < in->dims.size(); ++i) {
      GRAFT_CHECK(in->dims[i] > 0 && in->dims[i] <= (int64_t(1) << 20), m_.file, ": input ", io::quote(in->name),
                  " has dim ", i, " = ", in->dims[i] < 0 ? std::string("?") : std::to_string(in->dims[i]),
                  "; graft needs the channels and the image size fixed");
      sample.push_back(in->dims[i]);
      one.push_back(in->dims[i]);
    }
    plan_.sample = Shape(sample);
    plan_.input_name = in->name;
    Value iv;
    iv.kind = Value::graph;
    iv.node = "input";
    iv.shape = Shape(one);
    values_[in->name] = iv;

    GRAFT_CHECK(g.outputs.size() == 1, m_.file, ": the graph has ", g.outputs.size(),
                " outputs; graft builds networks with one");
    plan_.output_name = g.outputs[0].name;
    output_ = g.outputs[0].name;
    ++consumers_[output_];
    for (const auto& n : g.nodes)
      for (const auto& x : n.inputs) ++consumers_[x];

    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const io::OnnxNode& n = g.nodes[i];
      try {
        node(n, i + 1 == g.nodes.size());
      } catch (const Error& e) {
        throw Error(where(n) + e.what());
      }
    }
    auto it = values_.find(output_);
    GRAFT_CHECK(it != values_.end(), m_.file, ": the graph's output ", io::quote(output_), " is computed by no node");
    GRAFT_CHECK(it->second.kind == Value::graph && !plan_.nodes.empty() && it->second.node == plan_.nodes.back().name,
                m_.file, ": the graph's output ", io::quote(output_),
                " is not the result of its last node; graft's network outputs its last node");
    std::map<std::string, int> readers;
    for (const auto& p : plan_.nodes)
      for (const auto& x : p.inputs) ++readers[x];
    for (size_t i = 0; i + 1 < plan_.nodes.size(); ++i)
      GRAFT_CHECK(readers[plan_.nodes[i].name] > 0, m_.file, ": node ", io::quote(plan_.nodes[i].name), " (",
                  plan_.nodes[i].op_type, "): its output is read by nothing and is not the graph's output");
    if (o_.outputs > 0) onnx_with_outputs(plan_, o_.outputs);
    return std::move(plan_);
  }

 private:
  struct Value {
    enum Kind { graph, constant, unavailable } kind = graph;
    std::string node;                      // graph: the graft node ("input": the network's input)
    Shape shape;                           // graph: for a batch of one
    // graph: a Pad's zero padding at the end of axes of `node`'s output (whose shape is
    // unpadded): readable only by an Add, which zero-pads its smaller inputs (dlib's add_prev)
    bool padded = false;
    Shape unpadded;
    const io::Array* array = nullptr;      // constant: its value
  };

  std::string where(const io::OnnxNode& n) const {
    return m_.file + ": node " + io::quote(n.name.empty() ? (n.outputs.empty() ? "" : n.outputs[0]) : n.name) + " (" +
           n.op_type + ", opset " + std::to_string(plan_.opset) + "): ";
  }

  // ---- attributes ----
  const io::OnnxAttribute* attr(const io::OnnxNode& n, const char* name, io::OnnxAttrType type) const {
    const io::OnnxAttribute* a = n.attr(name);
    if (a)
      GRAFT_CHECK(a->type == type, "attribute ", name, " has type ", int(a->type), " (", attr_type_name(a->type),
                  "), expected ", int(type), " (", attr_type_name(type), ")");
    return a;
  }
  // AttributeProto's names of its types (onnx.proto's enum), for messages.
  static const char* attr_type_name(io::OnnxAttrType t) {
    static const char* names[] = {"UNDEFINED", "FLOAT",  "INT",     "STRING",        "TENSOR",
                                  "GRAPH",     "FLOATS", "INTS",    "STRINGS",       "TENSORS",
                                  "GRAPHS",    "SPARSE_TENSOR",     "SPARSE_TENSORS", "TYPE_PROTO",
                                  "TYPE_PROTOS"};
    const int i = int(t);
    return i >= 0 && i < int(sizeof(names) / sizeof(names[0])) ? names[i] : "unknown";
  }
  int64_t attr_int(const io::OnnxNode& n, const char* name, int64_t def) const {
    const io::OnnxAttribute* a = attr(n, name, io::OnnxAttrType::i);
    return a ? a->i : def;
  }
  float attr_float(const io::OnnxNode& n, const char* name, float def) const {
    const io::OnnxAttribute* a = attr(n, name, io::OnnxAttrType::f);
    return a ? a->f : def;
  }
  std::vector<int64_t> attr_ints(const io::OnnxNode& n, const char* name, std::vector<int64_t> def) const {
    const io::OnnxAttribute* a = attr(n, name, io::OnnxAttrType::ints);
    return a ? a->ints : def;
  }
  std::string attr_string(const io::OnnxNode& n, const char* name, const std::string& def) const {
    const io::OnnxAttribute* a = attr(n, name, io::OnnxAttrType::s);
    return a ? a->s : def;
  }
  // Refuses attributes the op does not know or graft does not build.
  void known_attrs(const io::OnnxNode& n, std::set<std::string> known) const {
    for (const auto& a : n.attributes)
      GRAFT_CHECK(known.count(a.name), "graft does not build attribute ", io::quote(a.name));
  }

  // ---- inputs ----
  const std::string& input_name(const io::OnnxNode& n, size_t i) const {
    static const std::string none;
    return i < n.inputs.size() ? n.inputs[i] : none;
  }
  const Value& value(const std::string& name) const {
    auto it = values_.find(name);
    GRAFT_CHECK(it != values_.end(), "reads ", io::quote(name), ", which no earlier node, initializer or input gives");
    GRAFT_CHECK(it->second.kind != Value::unavailable, "reads ", io::quote(name),
                ", an output graft does not compute (a training-mode or mask output)");
    return it->second;
  }
  const Value& tensor_input(const io::OnnxNode& n, size_t i) const {
    GRAFT_CHECK(!input_name(n, i).empty(), "input ", i, " is missing");
    const Value& v = value(input_name(n, i));
    GRAFT_CHECK(v.kind == Value::graph, "input ", i, " (", io::quote(input_name(n, i)),
                ") is a constant; graft builds nodes on the network's tensors only");
    GRAFT_CHECK(!v.padded, "input ", i, " (", io::quote(input_name(n, i)),
                ") is zero-padded by a Pad; graft builds a Pad only in front of an Add (a zero-padded sum)");
    return v;
  }
  // Input i as a constant, or null when the input is left out.
  const io::Array* const_input(const io::OnnxNode& n, size_t i, const char* what, bool required = true) const {
    if (input_name(n, i).empty()) {
      GRAFT_CHECK(!required, what, " (input ", i, ") is missing");
      return nullptr;
    }
    const Value& v = value(input_name(n, i));
    GRAFT_CHECK(v.kind == Value::constant, what, " (input ", i, ", ", io::quote(input_name(n, i)),
                ") is computed in the graph; graft needs it as an initializer or a Constant");
    return v.array;
  }
  void inputs_at_most(const io::OnnxNode& n, size_t k) const {
    size_t used = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (!n.inputs[i].empty()) used = i + 1;
    GRAFT_CHECK(used <= k, "has ", used, " inputs, graft reads at most ", k);
  }

  // ---- results ----
  // Adds the graft node and makes the ONNX node's first output its result; other outputs
  // (training statistics, masks) are unavailable.
  void emit(const io::OnnxNode& n, OnnxPlanNode p) {
    GRAFT_CHECK(!n.outputs.empty() && !n.outputs[0].empty(), "has no output");
    p.name = n.name.empty() ? n.outputs[0] : n.name;
    p.op_type = n.op_type;
    GRAFT_CHECK(p.name != "input", "graft's network input is named 'input'; a node may not be");
    GRAFT_CHECK(names_.insert(p.name).second, "a second node named ", io::quote(p.name));
    Value v;
    v.kind = Value::graph;
    v.node = p.name;
    v.shape = p.out;
    define(n, 0, v);
    plan_.nodes.push_back(std::move(p));
  }
  void define(const io::OnnxNode& n, size_t i, const Value& v) {
    const std::string& out = n.outputs[i];
    GRAFT_CHECK(!values_.count(out), "output ", io::quote(out), " is already given by another node or initializer");
    values_[out] = v;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (k == i || n.outputs[k].empty()) continue;
      if (values_.count(n.outputs[k])) continue;
      Value u;
      u.kind = Value::unavailable;
      values_[n.outputs[k]] = u;
    }
  }
  void alias(const io::OnnxNode& n, const Value& v) {
    GRAFT_CHECK(!n.outputs.empty() && !n.outputs[0].empty(), "has no output");
    define(n, 0, v);
  }
  io::Array& own(io::Array a) {
    owned_.push_back(std::move(a));
    return owned_.back();
  }

  // ---- the operators ----
  void node(const io::OnnxNode& n, bool last) {
    GRAFT_CHECK(n.domain.empty() || n.domain == "ai.onnx", "domain ", io::quote(n.domain),
                ": graft builds operators of the default domain only (", onnx_ops(), ")");
    const std::string& op = n.op_type;
    if (op == "Conv") conv(n);
    else if (op == "Gemm") gemm(n);
    else if (op == "MatMul") matmul(n);
    else if (op == "BatchNormalization") batch_norm(n);
    else if (op == "Relu") unary(n, OnnxPlanNode::relu);
    else if (op == "LeakyRelu") leaky_relu(n);
    else if (op == "PRelu") prelu(n);
    else if (op == "MaxPool" || op == "AveragePool") pool(n, op == "MaxPool");
    else if (op == "GlobalAveragePool") global_pool(n);
    else if (op == "Add" || op == "Mul") binary(n, op == "Add");
    else if (op == "Pad") pad(n);
    else if (op == "Flatten") flatten(n);
    else if (op == "Reshape") reshape(n);
    else if (op == "Dropout") dropout(n);
    else if (op == "Identity") {
      known_attrs(n, {});
      inputs_at_most(n, 1);
      GRAFT_CHECK(!input_name(n, 0).empty(), "input 0 is missing");
      alias(n, value(input_name(n, 0)));
    } else if (op == "Constant") constant(n);
    else if (op == "Softmax") softmax(n, last);
    else
      GRAFT_FAIL("graft cannot build this operator (it builds ", onnx_ops(), ")");
  }

  // Padding from `pads` (begin..., end...) and auto_pad: symmetric, as graft's windows are.
  void window_pads(const io::OnnxNode& n, Window2d& w, const Shape& in, bool pool) const {
    const std::string autopad = attr_string(n, "auto_pad", "NOTSET");
    std::vector<int64_t> pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (autopad == "SAME_UPPER" || autopad == "SAME_LOWER") {
      GRAFT_CHECK(!n.attr("pads"), "has both auto_pad ", autopad, " and pads");
      // Total padding so that out = ceil(in / stride); even totals split evenly.
      const int64_t sizes[2] = {in[2], in[3]};
      const int ks[2] = {w.kh, w.kw}, ss[2] = {w.sh, w.sw};
      for (int a = 0; a < 2; ++a) {
        const int64_t out = (sizes[a] + ss[a] - 1) / ss[a];
        const int64_t total = std::max<int64_t>(0, (out - 1) * ss[a] + ks[a] - sizes[a]);
        GRAFT_CHECK(total % 2 == 0, "auto_pad ", autopad, " pads ", total,
                    " in total along an axis, unevenly; graft's padding is the same on both sides");
        pads[size_t(a)] = pads[size_t(a) + 2] = total / 2;
      }
    } else {
      GRAFT_CHECK(autopad == "NOTSET" || autopad == "VALID", "auto_pad ", io::quote(autopad), " is not ONNX's");
      if (autopad == "VALID") pads = {0, 0, 0, 0};
    }
    GRAFT_CHECK(pads.size() == 4, "pads has ", pads.size(), " values, expected 4 (2-d)");
    GRAFT_CHECK(pads[0] == pads[2] && pads[1] == pads[3], "pads (", pads[0], ", ", pads[1], ", ", pads[2], ", ",
                pads[3], ") differ at the two ends of an axis; graft pads both ends alike");
    for (int64_t p : pads) GRAFT_CHECK(p >= 0 && p <= 1024, "pads value ", p, " is out of range");
    w.ph = int(pads[0]);
    w.pw = int(pads[1]);
    (void)pool;
  }
  static void two(const std::vector<int64_t>& v, const char* what, int& a, int& b) {
    GRAFT_CHECK(v.size() == 2, what, " has ", v.size(), " values, expected 2 (2-d)");
    for (int64_t x : v) GRAFT_CHECK(x >= 1 && x <= 1024, what, " value ", x, " is out of range");
    a = int(v[0]);
    b = int(v[1]);
  }
  Shape spatial_out(const Shape& in, int64_t c, const Window2d& w, const char* what) const {
    GRAFT_CHECK(in.rank() == 4, "expected an input (n, channels, height, width), got ", in.str());
    const int64_t oh = w.out_h(in[2]), ow = w.out_w(in[3]);
    GRAFT_CHECK(oh > 0 && ow > 0, "input ", in[2], "x", in[3], " is smaller than the ", w.kh, "x", w.kw, " ", what,
                " (", w.str(), ")");
    return Shape{1, c, oh, ow};
  }

  void conv(const io::OnnxNode& n) {
    known_attrs(n, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"});
    inputs_at_most(n, 3);
    const Value& x = tensor_input(n, 0);
    const io::Array* w = const_input(n, 1, "the weights");
    const io::Array* b = const_input(n, 2, "the bias", false);
    GRAFT_CHECK(attr_int(n, "group", 1) == 1, "group ", attr_int(n, "group", 1), ": graft convolves with group 1 only");
    for (int64_t d : attr_ints(n, "dilations", {1, 1}))
      GRAFT_CHECK(d == 1, "dilation ", d, ": graft convolves with dilation 1 only");
    GRAFT_CHECK(x.shape.rank() == 4, "expected an input (n, channels, height, width), got ", x.shape.str());
    GRAFT_CHECK(w->shape().rank() == 4 && w->shape()[1] == x.shape[1], "weights have shape ", w->shape().str(),
                ", expected (out, ", x.shape[1], ", kh, kw) for the input ", x.shape.str());
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::conv;
    p.inputs = {x.node};
    Window2d win;
    const std::vector<int64_t> ks = attr_ints(n, "kernel_shape", {w->shape()[2], w->shape()[3]});
    two(ks, "kernel_shape", win.kh, win.kw);
    GRAFT_CHECK(ks[0] == w->shape()[2] && ks[1] == w->shape()[3], "kernel_shape (", ks[0], ", ", ks[1],
                ") differs from the weights' ", w->shape().str());
    two(attr_ints(n, "strides", {1, 1}), "strides", win.sh, win.sw);
    window_pads(n, win, x.shape, false);
    p.window = win;
    p.outputs = w->shape()[0];
    p.bias = b != nullptr;
    p.out = spatial_out(x.shape, p.outputs, win, "kernel");
    p.params.push_back({"weights", *w});
    if (b) {
      GRAFT_CHECK(b->shape() == Shape{p.outputs}, "bias has shape ", b->shape().str(), ", expected (", p.outputs, ",)");
      p.params.push_back({"biases", *b});
    }
    emit(n, std::move(p));
  }

  // A Linear of `out` features reading x (n, K); weights (out, K).
  void linear(const io::OnnxNode& n, const Value& x, io::Array weights, const io::Array* bias) {
    GRAFT_CHECK(x.shape.rank() == 2, "expected a 2-d input (n, features), got ", x.shape.str(),
                " (a Flatten first makes one)");
    GRAFT_CHECK(weights.shape()[1] == x.shape[1], "weights give ", weights.shape()[1], " input features, the input ",
                x.shape.str(), " has ", x.shape[1]);
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::linear;
    p.inputs = {x.node};
    p.outputs = weights.shape()[0];
    p.out = Shape{1, p.outputs};
    p.params.push_back({"weights", std::move(weights)});
    if (bias) {
      p.bias = true;
      p.params.push_back({"biases", *bias});
    }
    emit(n, std::move(p));
  }

  void gemm(const io::OnnxNode& n) {
    known_attrs(n, {"alpha", "beta", "transA", "transB"});
    inputs_at_most(n, 3);
    const Value& x = tensor_input(n, 0);
    const io::Array* b = const_input(n, 1, "B (the weights)");
    const io::Array* c = const_input(n, 2, "C (the bias)", false);
    GRAFT_CHECK(attr_int(n, "transA", 0) == 0, "transA 1: graft's input is (n, features)");
    const bool trans = attr_int(n, "transB", 0) != 0;
    const double alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
    GRAFT_CHECK(b->shape().rank() == 2, "B has shape ", b->shape().str(), ", expected 2-d");
    const int64_t out = trans ? b->shape()[0] : b->shape()[1], k = trans ? b->shape()[1] : b->shape()[0];
    io::Array w = *b;
    if (!trans || alpha != 1.0) {
      const std::vector<double> v = onnx_values(*b);
      std::vector<double> t(v.size());
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < k; ++i)
          t[size_t(o * k + i)] = alpha * (trans ? v[size_t(o * k + i)] : v[size_t(i * out + o)]);
      w = onnx_array(onnx_param_dtype(*b), Shape{out, k}, t);
    }
    const io::Array* bias = nullptr;
    if (c && beta != 0.0) {
      const Shape row{1, out};
      GRAFT_CHECK(c->shape() == Shape{out} || c->shape() == row || c->size() == 1, "C has shape ",
                  c->shape().str(), ", expected (", out, ",) or (1, ", out, ")");
      std::vector<double> v = onnx_values(*c);
      std::vector<double> bv(static_cast<size_t>(out));
      for (int64_t o = 0; o < out; ++o) bv[size_t(o)] = beta * v[v.size() == 1 ? 0 : size_t(o)];
      bias = &own(onnx_array(onnx_param_dtype(*c), Shape{out}, bv));
    }
    linear(n, x, std::move(w), bias);
  }

  void matmul(const io::OnnxNode& n) {
    known_attrs(n, {});
    inputs_at_most(n, 2);
    const Value& x = tensor_input(n, 0);
    const io::Array* b = const_input(n, 1, "B (the weights)");
    GRAFT_CHECK(b->shape().rank() == 2, "B has shape ", b->shape().str(), ", expected 2-d (features, out)");
    const int64_t k = b->shape()[0], out = b->shape()[1];
    const std::vector<double> v = onnx_values(*b);
    std::vector<double> t(v.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < k; ++i) t[size_t(o * k + i)] = v[size_t(i * out + o)];
    linear(n, x, onnx_array(onnx_param_dtype(*b), Shape{out, k}, t), nullptr);
  }

  void batch_norm(const io::OnnxNode& n) {
    known_attrs(n, {"epsilon", "momentum", "training_mode", "spatial"});
    inputs_at_most(n, 5);
    GRAFT_CHECK(attr_int(n, "training_mode", 0) == 0, "training_mode 1: graft builds the inference form");
    GRAFT_CHECK(attr_int(n, "spatial", 1) == 1, "spatial 0: graft normalises per channel");
    const Value& x = tensor_input(n, 0);
    GRAFT_CHECK(x.shape.rank() == 4 || x.shape.rank() == 2, "expected an input (n, C, H, W) or (n, C), got ",
                x.shape.str());
    const int64_t c = x.shape[1];
    const char* names[4] = {"scale", "offset", "mean", "variance"};
    const char* what[4] = {"scale", "B (the offset)", "the mean", "the variance"};
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::batch_norm;
    p.inputs = {x.node};
    p.out = x.shape;
    for (int k = 0; k < 4; ++k) {
      const io::Array* a = const_input(n, size_t(k) + 1, what[k]);
      GRAFT_CHECK(a->shape() == Shape{c}, what[k], " has shape ", a->shape().str(), ", expected (", c, ",)");
      p.params.push_back({names[k], *a});
    }
    p.eps = attr_float(n, "epsilon", 1e-5f);
    GRAFT_CHECK(p.eps > 0, "epsilon ", p.eps, " is not positive");
    const double momentum = attr_float(n, "momentum", 0.9f);
    GRAFT_CHECK(momentum >= 0 && momentum <= 1, "momentum ", momentum, " is outside [0, 1]");
    p.momentum = 1.0 - momentum;  // ONNX: running * momentum + batch * (1 - momentum)
    emit(n, std::move(p));
  }

  void unary(const io::OnnxNode& n, OnnxPlanNode::Kind kind) {
    known_attrs(n, {});
    inputs_at_most(n, 1);
    const Value& x = tensor_input(n, 0);
    OnnxPlanNode p;
    p.kind = kind;
    p.inputs = {x.node};
    p.out = x.shape;
    emit(n, std::move(p));
  }

  void leaky_relu(const io::OnnxNode& n) {
    known_attrs(n, {"alpha"});
    inputs_at_most(n, 1);
    const Value& x = tensor_input(n, 0);
    const double alpha = attr_float(n, "alpha", 0.01f);  // ONNX's default
    GRAFT_CHECK(std::isfinite(alpha), "alpha ", alpha, " is not finite");
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::leaky_relu;
    p.inputs = {x.node};
    p.out = x.shape;
    p.alpha = alpha;
    emit(n, std::move(p));
  }

  // PRelu: the slope (a constant) broadcasts to the input by ONNX's rule, aligned at the last
  // axis; graft's layer has one slope for all, or one per channel (axis 1). So (C, 1, 1) and
  // (1, C, 1, 1) are per channel for (n, C, H, W), (C) and (1, C) for (n, C), a slope of ones
  // only is shared; anything else (a (C) slope of a 4-d input runs along the width) is refused.
  void prelu(const io::OnnxNode& n) {
    known_attrs(n, {});
    inputs_at_most(n, 2);
    const Value& x = tensor_input(n, 0);
    const io::Array* s = const_input(n, 1, "the slope");
    const int r = x.shape.rank();
    GRAFT_CHECK(r == 4 || r == 2, "expected an input (n, C, H, W) or (n, C), got ", x.shape.str());
    const int64_t c = x.shape[1];
    const std::vector<int64_t> d = s->shape().dims();
    const int sr = int(d.size());
    bool shared = sr <= r, per_channel = sr == r || sr == r - 1;
    for (int k = 0; k < sr; ++k) {
      const int axis = r - sr + k;  // the input's axis that the slope's axis k lines up with
      if (d[size_t(k)] != 1) shared = false;
      if (d[size_t(k)] != (axis == 1 ? c : 1)) per_channel = false;
    }
    GRAFT_CHECK(shared || per_channel, "the slope has shape ", s->shape().str(),
                "; graft's PRelu has one slope, or one per channel: ",
                r == 2 ? "(C,) or (1, C)" : "(C, 1, 1) or (1, C, 1, 1)", " with C = ", c, " for the input ",
                x.shape.str(), ", or a slope of shape (1,) or ()");
    GRAFT_CHECK(io::is_float(s->dtype()), "the slope holds ", io::dtype_name(s->dtype()), "; graft needs floats");
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::prelu;
    p.inputs = {x.node};
    p.out = x.shape;
    p.outputs = shared ? 1 : c;
    std::vector<double> v(static_cast<size_t>(p.outputs));
    for (int64_t i = 0; i < p.outputs; ++i) v[size_t(i)] = s->value(i);
    p.params.push_back({"slope", onnx_array(onnx_param_dtype(*s), Shape{p.outputs}, v)});
    emit(n, std::move(p));
  }

  void pool(const io::OnnxNode& n, bool max) {
    if (max) known_attrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations", "storage_order"});
    else known_attrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"});
    inputs_at_most(n, 1);
    GRAFT_CHECK(n.outputs.size() == 1 || (n.outputs.size() == 2 && n.outputs[1].empty()),
                "graft computes no pooling indices (a second output)");
    const Value& x = tensor_input(n, 0);
    GRAFT_CHECK(x.shape.rank() == 4, "expected an input (n, channels, height, width), got ", x.shape.str());
    for (int64_t d : attr_ints(n, "dilations", {1, 1})) GRAFT_CHECK(d == 1, "dilation ", d, ": graft pools with dilation 1");
    GRAFT_CHECK(attr_int(n, "storage_order", 0) == 0, "storage_order 1 (column-major indices) is not built");
    Window2d win;
    const io::OnnxAttribute* ks = attr(n, "kernel_shape", io::OnnxAttrType::ints);
    GRAFT_CHECK(ks, "has no kernel_shape");
    two(ks->ints, "kernel_shape", win.kh, win.kw);
    two(attr_ints(n, "strides", {1, 1}), "strides", win.sh, win.sw);
    window_pads(n, win, x.shape, true);
    win.ceil_mode = attr_int(n, "ceil_mode", 0) != 0;
    OnnxPlanNode p;
    p.kind = max ? OnnxPlanNode::max_pool : OnnxPlanNode::avg_pool;
    p.inputs = {x.node};
    p.window = win;
    p.count_pad = attr_int(n, "count_include_pad", 0) != 0;  // ONNX's default: not counted
    if (max) GRAFT_CHECK(win.ph < win.kh && win.pw < win.kw, "padding ", win.str(), " reaches a whole window");
    else GRAFT_CHECK(2 * win.ph <= win.kh && 2 * win.pw <= win.kw, "padding ", win.str(), " is more than half the kernel");
    p.out = spatial_out(x.shape, x.shape[1], win, "window");
    if (win.ceil_mode) {
      // ONNX's ceil rounding keeps a last window that starts in the right padding; graft
      // (PyTorch's rule) drops it. They agree unless that happens: refuse it.
      const int64_t sizes[2] = {x.shape[2], x.shape[3]};
      const int k[2] = {win.kh, win.kw}, s[2] = {win.sh, win.sw}, pd[2] = {win.ph, win.pw};
      for (int a = 0; a < 2; ++a) {
        const int64_t onnx = (sizes[a] + 2 * pd[a] - k[a] + s[a] - 1) / s[a] + 1;
        GRAFT_CHECK(onnx == p.out[2 + a], "ceil_mode: ONNX's output size ", onnx, " differs from graft's ", p.out[2 + a],
                    " for input ", x.shape.str(), " and window ", win.str());
      }
    }
    emit(n, std::move(p));
  }

  void global_pool(const io::OnnxNode& n) {
    known_attrs(n, {});
    inputs_at_most(n, 1);
    const Value& x = tensor_input(n, 0);
    GRAFT_CHECK(x.shape.rank() == 4, "expected an input (n, channels, height, width), got ", x.shape.str());
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::global_avg_pool;
    p.inputs = {x.node};
    p.out = Shape{1, x.shape[1], 1, 1};
    emit(n, std::move(p));
  }

  // Add / Mul: of two tensors (Add only), or of a tensor and a constant per channel.
  void binary(const io::OnnxNode& n, bool add) {
    known_attrs(n, {"broadcast", "axis"});  // (opset < 7 spellings; never set by opset 9+ files)
    GRAFT_CHECK(n.inputs.size() == 2 && !n.inputs[0].empty() && !n.inputs[1].empty(), "needs two inputs");
    const Value& a = value(n.inputs[0]);
    const Value& b = value(n.inputs[1]);
    GRAFT_CHECK(a.kind == Value::graph || b.kind == Value::graph, "both inputs are constants; graft does not fold them");
    if (a.kind == Value::graph && b.kind == Value::graph) {
      GRAFT_CHECK(add, "graft multiplies a tensor by a constant only, not by another tensor");
      GRAFT_CHECK(a.shape == b.shape, "inputs have shapes ", a.shape.str(), " and ", b.shape.str(),
                  "; graft adds tensors of one shape (no broadcasting)");
      OnnxPlanNode p;
      p.kind = OnnxPlanNode::add;
      p.inputs = {a.node, b.node};
      p.out = a.shape;
      if (a.padded || b.padded) {
        // Zero-padded inputs: graft's Add pads the smaller ones at the end of each axis; the
        // sum's shape is the largest on each axis, which must be the padded shape.
        p.bias = true;  // (zero_pad)
        const Shape& sa = a.padded ? a.unpadded : a.shape;
        const Shape& sb = b.padded ? b.unpadded : b.shape;
        GRAFT_CHECK(sa.rank() == sb.rank(), "inputs of ranks ", sa.rank(), " and ", sb.rank());
        std::vector<int64_t> d = sa.dims();
        for (int k = 0; k < sb.rank(); ++k) d[size_t(k)] = std::max(d[size_t(k)], sb[k]);
        GRAFT_CHECK(Shape(d) == a.shape, "the zero-padded sum of ", sa.str(), " and ", sb.str(), " is ", Shape(d).str(),
                    ", but the Pad makes ", a.shape.str());
      }
      emit(n, std::move(p));
      return;
    }
    GRAFT_CHECK(!a.padded && !b.padded, "a Pad's output is added to a constant; graft pads only in front of a sum");
    const Value& x = a.kind == Value::graph ? a : b;
    const io::Array& k = *(a.kind == Value::graph ? b : a).array;
    GRAFT_CHECK(x.shape.rank() == 4 || x.shape.rank() == 2, "expected an input (n, C, H, W) or (n, C), got ",
                x.shape.str());
    const int64_t c = x.shape[1];
    // The constant, per channel: a scalar, (C), (1, C) for (n, C), or (C, 1, 1), (1, C, 1, 1).
    const std::vector<int64_t> d = k.shape().dims();
    bool ok = k.size() == 1 && (int)d.size() <= x.shape.rank();
    if (!ok && k.size() == c) {
      if (x.shape.rank() == 2) ok = d == std::vector<int64_t>{c} || d == std::vector<int64_t>{1, c};
      else ok = d == std::vector<int64_t>{c, 1, 1} || d == std::vector<int64_t>{1, c, 1, 1};
    }
    GRAFT_CHECK(ok, "the constant has shape ", k.shape().str(), "; graft ", add ? "adds" : "multiplies by",
                " a scalar or one value per channel (", x.shape.rank() == 2 ? "(C,) or (1, C)" : "(C, 1, 1) or (1, C, 1, 1)",
                ", C = ", c, ") to the input ", x.shape.str());
    GRAFT_CHECK(io::is_float(k.dtype()), "the constant holds ", io::dtype_name(k.dtype()), "; graft needs floats");
    std::vector<double> v(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) v[size_t(i)] = k.value(k.size() == 1 ? 0 : i);
    const io::DType dt = onnx_param_dtype(k);
    // Add after a Mul by a constant that nothing else reads: one Affine, named as the Mul
    // (how graft writes an Affine).
    const std::string& xname = n.inputs[a.kind == Value::graph ? 0 : 1];
    if (add && !plan_.nodes.empty() && x.node == plan_.nodes.back().name && consumers_[xname] == 1) {
      OnnxPlanNode& prev = plan_.nodes.back();
      if (prev.kind == OnnxPlanNode::affine && !prev.bias && prev.op_type == "Mul") {
        prev.bias = true;
        prev.op_type = "Mul+Add";
        prev.params.push_back({"offset", onnx_array(dt, Shape{c}, v)});
        alias(n, x);
        return;
      }
    }
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::affine;
    p.inputs = {x.node};
    p.out = x.shape;
    if (add) {
      p.bias = true;
      p.fixed_scale = true;
      p.params.push_back({"scale", onnx_array(dt, Shape{c}, std::vector<double>(size_t(c), 1.0))});
      p.params.push_back({"offset", onnx_array(dt, Shape{c}, v)});
    } else {
      p.params.push_back({"scale", onnx_array(dt, Shape{c}, v)});
    }
    emit(n, std::move(p));
  }

  // Pad with zeros at the end of axes (after the batch): read by an Add as a zero-padded sum.
  void pad(const io::OnnxNode& n) {
    known_attrs(n, {"mode", "pads", "value"});
    inputs_at_most(n, 3);
    const Value& x = tensor_input(n, 0);
    GRAFT_CHECK(attr_string(n, "mode", "constant") == "constant", "mode ", io::quote(attr_string(n, "mode", "")),
                ": graft pads with zeros only");
    std::vector<int64_t> pads;
    if (plan_.opset >= 11) {
      GRAFT_CHECK(!n.attr("pads"), "pads is an input from opset 11 on, not an attribute");
      const io::Array* pa = const_input(n, 1, "the pads");
      GRAFT_CHECK(pa->dtype() == io::DType::i8, "the pads are ", io::dtype_name(pa->dtype()), ", expected int64");
      for (int64_t i = 0; i < pa->size(); ++i) pads.push_back(int64_t(pa->value(i)));
      const io::Array* cv = const_input(n, 2, "the constant value", false);
      GRAFT_CHECK(!cv || (cv->size() == 1 && cv->value(0) == 0.0), "pads with a value other than 0");
    } else {
      pads = attr_ints(n, "pads", {});
      GRAFT_CHECK(attr_float(n, "value", 0.0f) == 0.0f, "pads with a value other than 0");
    }
    const int r = x.shape.rank();
    GRAFT_CHECK(pads.size() == size_t(2 * r), "has ", pads.size(), " pads for an input of rank ", r);
    std::vector<int64_t> d = x.shape.dims();
    for (int k = 0; k < r; ++k) {
      GRAFT_CHECK(pads[size_t(k)] == 0 && (k > 0 || pads[size_t(r)] == 0) && pads[size_t(r + k)] >= 0 &&
                      pads[size_t(r + k)] <= (int64_t(1) << 20),
                  "graft zero-pads only at the end of the axes after the batch (dlib's add_prev); pads (",
                  [&] {
                    std::string s;
                    for (size_t i = 0; i < pads.size(); ++i) s += (i ? ", " : "") + std::to_string(pads[i]);
                    return s;
                  }(),
                  ") for the input ", x.shape.str());
      d[size_t(k)] += pads[size_t(r + k)];
    }
    Value v = x;
    v.padded = true;
    v.unpadded = x.shape;
    v.shape = Shape(d);
    alias(n, v);
  }

  void flatten_to(const io::OnnxNode& n, const Value& x) {
    if (x.shape.rank() == 2) {  // already (n, features)
      alias(n, x);
      return;
    }
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::flatten;
    p.inputs = {x.node};
    p.out = Shape{1, x.shape.numel()};
    emit(n, std::move(p));
  }
  void flatten(const io::OnnxNode& n) {
    known_attrs(n, {"axis"});
    inputs_at_most(n, 1);
    const Value& x = tensor_input(n, 0);
    const int64_t axis = attr_int(n, "axis", 1);
    GRAFT_CHECK(axis == 1 || (axis == -(int64_t)x.shape.rank() + 1), "axis ", axis,
                ": graft flattens everything but the batch (axis 1)");
    flatten_to(n, x);
  }
  void reshape(const io::OnnxNode& n) {
    known_attrs(n, {"allowzero"});
    inputs_at_most(n, 2);
    const Value& x = tensor_input(n, 0);
    const io::Array* s = const_input(n, 1, "the shape");
    GRAFT_CHECK(s->dtype() == io::DType::i8 && s->shape().rank() == 1, "the shape is ", io::dtype_name(s->dtype()), " ",
                s->shape().str(), ", expected int64 of rank 1");
    const int64_t features = x.shape.numel();
    bool ok = s->size() == 2;
    if (ok) {
      const int64_t d0 = int64_t(s->value(0)), d1 = int64_t(s->value(1));
      // The batch: 0 (copied), -1, or a number (an exporter's fixed batch, read as any batch).
      ok = (d0 >= -1) && (d1 == -1 || d1 == features) && !(d0 == -1 && d1 == -1);
      if (attr_int(n, "allowzero", 0) != 0 && d0 == 0) ok = false;
    }
    std::string got;
    for (int64_t i = 0; i < s->size(); ++i) got += (i ? ", " : "") + std::to_string(int64_t(s->value(i)));
    GRAFT_CHECK(ok, "reshape to (", got, "): graft reshapes only to (batch, -1), flattening ", x.shape.str());
    flatten_to(n, x);
  }

  void dropout(const io::OnnxNode& n) {
    known_attrs(n, {"ratio", "seed", "is_test"});
    inputs_at_most(n, 3);
    const Value& x = tensor_input(n, 0);
    float ratio = attr_float(n, "ratio", 0.5f);
    if (plan_.opset >= 12) {
      GRAFT_CHECK(!n.attr("ratio"), "ratio is an input from opset 12 on, not an attribute");
      const io::Array* r = const_input(n, 1, "the ratio", false);
      if (r) {
        GRAFT_CHECK(r->size() == 1, "the ratio has shape ", r->shape().str(), ", expected a scalar");
        ratio = float(r->value(0));
      }
      const io::Array* t = const_input(n, 2, "training_mode", false);
      GRAFT_CHECK(!t || t->value(0) == 0.0, "training_mode is true: graft builds the inference form");
    }
    GRAFT_CHECK(ratio >= 0.0f && ratio < 1.0f, "ratio ", ratio, " is outside [0, 1)");
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::dropout;
    p.inputs = {x.node};
    p.out = x.shape;
    p.p = ratio;
    emit(n, std::move(p));
  }

  void constant(const io::OnnxNode& n) {
    GRAFT_CHECK(n.attributes.size() == 1, "has ", n.attributes.size(), " attributes, expected one value");
    const io::OnnxAttribute& a = n.attributes[0];
    Value v;
    v.kind = Value::constant;
    if (a.name == "value") {
      GRAFT_CHECK(a.type == io::OnnxAttrType::tensor && a.tensors.size() == 1, "value is not a tensor");
      v.array = &a.tensors[0].data;
    } else if (a.name == "value_float" || a.name == "value_floats") {
      std::vector<double> f = a.name == "value_float" ? std::vector<double>{a.f}
                                                      : std::vector<double>(a.floats.begin(), a.floats.end());
      v.array = &own(onnx_array(io::DType::f4, a.name == "value_float" ? Shape{} : Shape{int64_t(f.size())}, f));
    } else if (a.name == "value_int" || a.name == "value_ints") {
      const std::vector<int64_t> i = a.name == "value_int" ? std::vector<int64_t>{a.i} : a.ints;
      io::Array arr(io::DType::i8, a.name == "value_int" ? Shape{} : Shape{int64_t(i.size())});
      if (!i.empty()) std::memcpy(arr.data(), i.data(), 8 * i.size());
      v.array = &own(std::move(arr));
    } else {
      GRAFT_FAIL("attribute ", io::quote(a.name), ": graft reads value, value_float(s) and value_int(s)");
    }
    alias(n, v);
  }

  // Softmax over the channels, axis 1 of (n, C) or (n, C, H, W). From opset 13 on, axis names
  // one axis (default -1); before, axis a (default 1) flattens the input into rows of the
  // axes from a on, so axis 1 of (n, C, H, W) is over the channels only when H = W = 1.
  // The graph's final Softmax is left out: the network outputs the logits, which graft's
  // trainers and predict turn into probabilities themselves. Elsewhere it is a Softmax node.
  void softmax(const io::OnnxNode& n, bool last) {
    known_attrs(n, {"axis"});
    inputs_at_most(n, 1);
    const Value& x = tensor_input(n, 0);
    const int r = x.shape.rank();
    GRAFT_CHECK(r == 2 || r == 4, "expected an input (n, C) or (n, C, H, W), got ", x.shape.str());
    const int64_t axis = attr_int(n, "axis", plan_.opset >= 13 ? -1 : 1);
    GRAFT_CHECK(axis >= -r && axis < r, "axis ", axis, " is outside the ", r, " axes of the input ", x.shape.str());
    const int64_t a = axis < 0 ? axis + r : axis;
    GRAFT_CHECK(a == 1, "axis ", axis, ": graft's Softmax is over the channels (axis 1) of the input ", x.shape.str());
    GRAFT_CHECK(plan_.opset >= 13 || r == 2 || x.shape[2] * x.shape[3] == 1, "axis ", axis, " at opset ", plan_.opset,
                " normalises over the channels and the image together (the input ", x.shape.str(),
                " flattened from axis 1); graft's Softmax is over the channels alone (axis 1 at opset 13)");
    if (last && n.outputs.size() == 1 && n.outputs[0] == output_) {
      // The network ends at the logits: the graph's output is the Softmax's input.
      output_ = input_name(n, 0);
      return;
    }
    OnnxPlanNode p;
    p.kind = OnnxPlanNode::softmax;
    p.inputs = {x.node};
    p.out = x.shape;
    emit(n, std::move(p));
  }

  const io::OnnxModel& m_;
  OnnxBuildOptions o_;
  OnnxPlan plan_;
  std::map<std::string, Value> values_;
  std::set<std::string> names_;
  std::deque<io::Array> owned_;
  std::string output_;
  std::map<std::string, int> consumers_;  // how many node inputs (and the graph's output) read each value
};

}  // namespace detail

// The graft network of an ONNX graph, step by step (node names, what each builds, its
// weights), for building and loading; errors name the file and the node.
inline OnnxPlan onnx_plan(const io::OnnxModel& m, const OnnxBuildOptions& o = {}) {
  return detail::OnnxPlanner(m, o).run();
}

// The weights of an ONNX graph by graft node and parameter name, in graft's layouts.
inline io::WeightsDict onnx_weights(OnnxPlan&& plan) {
  io::WeightsDict w;
  for (auto& p : plan.nodes)
    for (auto& a : p.params) w.add(p.name, a.first, std::move(a.second));
  return w;
}

}  // namespace nn
}  // namespace graft
