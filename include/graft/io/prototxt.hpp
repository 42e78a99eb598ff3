// Reading a Caffe deploy .prototxt (V1 or V2 syntax) into a CaffeNet: the input shape and a
// graph of layers that graft can build (graft/nn/caffe.hpp builds them).
//
// Input, any of:   input: "data"  input_dim: 1  input_dim: 3  input_dim: 224  input_dim: 224
//                  input: "data"  input_shape { dim: 1 dim: 3 dim: 224 dim: 224 }
//                  layer { type: "Input" top: "data" input_param { shape { dim: ... } } }
// Layers, V2 `layer { type: "Convolution" }` or V1 `layers { type: CONVOLUTION }`:
//   Convolution   num_output, bias_term, kernel_size / kernel_h+kernel_w, pad / pad_h+pad_w,
//                 stride / stride_h+stride_w (group and dilation must be 1)
//   Pooling       pool: MAX or AVE, kernel_size / kernel_h+kernel_w, pad, stride,
//                 global_pooling, round_mode (Caffe rounds the output size up; FLOOR rounds
//                 down). STOCHASTIC is refused (Caffe runs it only on GPUs, and as AVE's
//                 weighted form at test time).
//   InnerProduct  num_output, bias_term (transpose must be false, axis 1)
//   ReLU          (negative_slope must be 0)
//   Dropout       dropout_ratio
//   BatchNorm     batch_norm_param: use_global_stats, moving_average_fraction, eps
//                 (default 1e-5); no affine part, as in Caffe (a Scale layer follows)
//   Scale         scale_param: bias_term (default false, as in Caffe); one bottom, axis 1,
//                 num_axes 1: a learned per-channel scale (and offset)
//   Eltwise       operation SUM (the default) with optional coeff, one per bottom; PROD and
//                 MAX are refused, naming the layer
//   Softmax       only as the last layer (axis 1)
// Any other type is an error naming the layer, its type and its line. Layers are selected for
// Caffe's TEST phase (include/exclude rules, as Caffe's deploy nets are run). V1's enum has
// no BatchNorm or Scale (they came after it), so a V1 file cannot name them, as in Caffe.
//
// The net is a graph, resolved as Caffe's Net resolves it: each layer reads its bottoms,
// the blobs that the input or an earlier layer last wrote, and writes its top. A layer that
// writes its bottom in place (ReLU, Dropout, BatchNorm, Scale, as ResNet's deploy files do)
// becomes a new node, and later readers of that blob read it. CaffeNetLayer::inputs holds the
// result: for each bottom the index of the layer that wrote it (kInput for the net's input).
// Errors name the layer and its line: a bottom that nothing wrote, a top that rewrites another
// layer's blob other than in place, a layer whose output nothing reads (graft builds nets
// with one output: the last layer, or the one a final Softmax reads).
//
// Other fields (param, blobs_lr, weight_filler, engine ...) do not change what a deploy net
// computes and are ignored. Errors are graft::Error "FILE:LINE: what".
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/caffe_types.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"
#include "graft/io/text_format.hpp"

namespace graft {
namespace io {

struct CaffeNetLayer {
  static constexpr int kInput = -1;  // inputs[]: the net's input
  std::string name, type;  // type as V2 names it: "Convolution", "Pooling", ...
  int line = 0;            // where the layer opens
  std::vector<std::string> bottoms;  // the blobs it reads, in order
  std::string top;                   // the blob it writes (equal to its bottom when in place)
  std::vector<int> inputs;           // for each bottom, the layer that last wrote it (or kInput)
  // Convolution, InnerProduct, Scale (whose bias_term defaults to false in Caffe)
  int64_t num_output = 0;
  bool bias_term = true;
  // Convolution, Pooling
  int kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  // Pooling
  bool average = false;         // pool: AVE (else MAX)
  bool global_pooling = false;  // the kernel is the whole input
  bool ceil_mode = true;        // Caffe's default round_mode CEIL
  // Dropout
  float dropout_ratio = 0.5f;
  // BatchNorm
  double eps = 1e-5;
  double moving_average_fraction = 0.999;
  bool use_global_stats = false, use_global_stats_given = false;
  // Eltwise SUM: y = sum coeffs[i] * bottom i; empty: all 1
  std::vector<double> coeffs;

  bool has_params() const {
    return type == "Convolution" || type == "InnerProduct" || type == "BatchNorm" || type == "Scale";
  }
  bool in_place() const { return bottoms.size() == 1 && bottoms[0] == top; }
};

struct CaffeNet {
  std::string file;
  std::string name;
  int format = 2;       // 1: V1 `layers`, 2: V2 `layer`
  std::string input;    // the input blob's name
  Shape input_shape;    // as the file gives it, batch first
  int input_line = 0;
  std::vector<CaffeNetLayer> layers;  // in file order (a topological order); no Input layer

  const CaffeNetLayer* find(const std::string& layer) const {
    for (const auto& l : layers)
      if (l.name == layer) return &l;
    return nullptr;
  }
  // "FILE:LINE" of a layer, for messages.
  std::string where(const CaffeNetLayer& l) const { return file + ":" + std::to_string(l.line); }
};

namespace detail {

class PrototxtReader {
 public:
  PrototxtReader(std::string file, const ReadLimits& limits) : file_(std::move(file)), limits_(limits) {}

  CaffeNet run(const text::Message& root) {
    CaffeNet net;
    net.file = file_;
    if (const text::Field* n = one(root, "name")) net.name = str(*n, "name");
    const auto v1 = root.all("layers"), v2 = root.all("layer");
    if (!v1.empty() && !v2.empty())
      fail(v1[0]->line, "the file mixes V1 'layers' (line ", v1[0]->line, ") and V2 'layer' (line ", v2[0]->line,
           ") blocks; Caffe refuses such a net too");
    net.format = v1.empty() ? 2 : 1;
    const auto& blocks = v1.empty() ? v2 : v1;
    if (blocks.size() > limits_.max_layers)
      fail(blocks[limits_.max_layers]->line, "more than ", limits_.max_layers, " layers (ReadLimits::max_layers)");
    top_level_input(root, net);

    // Which layer last wrote each blob (CaffeNetLayer::kInput: the input), and where.
    std::map<std::string, std::pair<int, int>> writer;  // blob -> (layer index, line)
    int softmax = -1;                 // index of a Softmax layer (the last one allowed)
    std::map<std::string, int> names;  // name -> line
    for (const text::Field* block : blocks) {
      if (block->kind != text::Field::message)
        fail(*block, "'", block->name, "' must be a message { ... }, not a value");
      const text::Message& m = *block->msg;
      CaffeNetLayer l;
      l.line = block->line;
      const text::Field* name = one(m, "name");
      if (!name) fail(l.line, "a layer without a name");
      l.name = str(*name, "name");
      if (l.name.empty()) fail(*name, "a layer with an empty name");
      const text::Field* type = one(m, "type");
      if (!type) fail(l.line, "layer ", quote(l.name), " has no type");
      l.type = layer_type(*type);
      if (!included(m, l)) continue;
      supported(l);
      const auto seen = names.emplace(l.name, l.line);
      if (!seen.second) fail(l.line, "a second layer named ", quote(l.name), " (the first is on line ", seen.first->second, ")");

      const auto bottoms = strings(m, "bottom"), tops = strings(m, "top");
      if (l.type == "Input") {
        input_layer(m, l, tops, net);
        writer[net.input] = {CaffeNetLayer::kInput, net.input_line};
        continue;
      }
      if (net.input.empty())
        fail(l.line, "layer ", quote(l.name), " comes before any input: give the input with 'input:' and 'input_dim:' "
             "(or 'input_shape'), or an Input layer");
      if (writer.empty()) writer[net.input] = {CaffeNetLayer::kInput, net.input_line};
      if (softmax >= 0)
        fail(l.line, "layer ", quote(l.name), " follows the Softmax ", quote(net.layers[softmax].name), " (line ",
             net.layers[softmax].line, "); graft builds a Softmax only as the last layer");
      const bool multi = l.type == "Eltwise";
      if ((multi ? bottoms.size() < 2 : bottoms.size() != 1) || tops.size() != 1)
        fail(l.line, "layer ", quote(l.name), " (", l.type, ") has ", bottoms.size(), " bottoms and ", tops.size(),
             " tops; graft builds ", multi ? "an Eltwise with two or more bottoms" : "it with one bottom",
             " and one top",
             l.type == "Scale" && bottoms.size() == 2 ? " (a Scale whose factors come from a second bottom is not supported)" : "");
      l.bottoms = bottoms;
      l.top = tops[0];
      for (const std::string& b : l.bottoms) {
        const auto w = writer.find(b);
        if (w == writer.end()) {
          std::string known;
          for (const auto& kv : writer) known += (known.empty() ? "" : ", ") + quote(kv.first);
          fail(l.line, "layer ", quote(l.name), " reads blob ", quote(b), ", which neither the input nor a layer "
               "before it writes (blobs so far: ", known, ")");
        }
        l.inputs.push_back(w->second.first);
      }
      const bool in_place = l.in_place();
      if (!in_place && std::find(l.bottoms.begin(), l.bottoms.end(), l.top) != l.bottoms.end())
        fail(l.line, "layer ", quote(l.name), " (", l.type, ") writes its input blob ", quote(l.top),
             " in place; only a layer with one bottom can");
      if (in_place && l.type != "ReLU" && l.type != "Dropout" && l.type != "BatchNorm" && l.type != "Scale")
        fail(l.line, "layer ", quote(l.name), " (", l.type, ") writes its input blob ", quote(l.top),
             " in place; graft does that only for ReLU, Dropout, BatchNorm and Scale, as Caffe's deploy nets do");
      if (!in_place) {
        const auto w = writer.find(l.top);
        if (w != writer.end())
          fail(l.line, "layer ", quote(l.name), " writes blob ", quote(l.top), ", which ",
               w->second.first == CaffeNetLayer::kInput ? std::string("is the input") : "layer " + quote(net.layers[size_t(w->second.first)].name) + " wrote",
               " (line ", w->second.second, "); Caffe rewrites a blob only in place (top equal to bottom)");
      }
      parameters(m, l);
      writer[l.top] = {static_cast<int>(net.layers.size()), l.line};
      net.layers.push_back(std::move(l));
      if (net.layers.back().type == "Softmax") softmax = static_cast<int>(net.layers.size()) - 1;
    }
    if (net.input.empty())
      fail(1, "no input: give it with 'input:' and 'input_dim:' (or 'input_shape'), or an Input layer");
    if (net.layers.empty()) fail(1, "no layers besides the input");
    one_output(net);
    return net;
  }

 private:
  // graft's network has one output, its last node: the last layer, or the layer a final
  // Softmax reads (the Softmax is not built). Any other layer whose output nothing reads
  // would be computed and lost, which means the file is not what graft would build.
  void one_output(const CaffeNet& net) const {
    const size_t n = net.layers.size();
    const bool softmax = net.layers.back().type == "Softmax";
    if (softmax) {
      if (n < 2) fail(net.layers.back().line, "the net is only a Softmax; graft leaves a final Softmax out");
      if (net.layers.back().inputs[0] != int(n) - 2)
        fail(net.layers.back().line, "the Softmax ", quote(net.layers.back().name), " reads ",
             quote(net.layers.back().bottoms[0]), ", not the output of the layer before it (",
             quote(net.layers[n - 2].name), "); graft builds nets whose last layer is the output");
    }
    const size_t out = softmax ? n - 2 : n - 1;
    std::vector<char> read(n, 0);
    for (const auto& l : net.layers)
      for (int k : l.inputs)
        if (k >= 0) read[size_t(k)] = 1;
    for (size_t i = 0; i < out; ++i)
      if (!read[i])
        fail(net.layers[i].line, "the output of layer ", quote(net.layers[i].name), " (blob ", quote(net.layers[i].top),
             ") is read by no later layer; graft builds nets with one output, the last layer ",
             quote(net.layers[out].name));
  }

  // ---- errors ----
  template <class... Parts>
  [[noreturn]] void fail(int line, Parts&&... parts) const {
    throw Error(file_ + ":" + std::to_string(line) + ": " + graft::detail::concat(std::forward<Parts>(parts)...));
  }
  template <class... Parts>
  [[noreturn]] void fail(const text::Field& f, Parts&&... parts) const {
    fail(f.line, std::forward<Parts>(parts)...);
  }

  // ---- fields ----
  const text::Field* one(const text::Message& m, const std::string& name) const {
    const text::Field* found = nullptr;
    for (const auto& f : m.fields)
      if (f.name == name) {
        if (found) fail(f, "'", name, "' is given twice (also on line ", found->line, ")");
        found = &f;
      }
    return found;
  }
  const text::Message* sub(const text::Message& m, const std::string& name) const {
    const text::Field* f = one(m, name);
    if (!f) return nullptr;
    if (f->kind != text::Field::message) fail(*f, "'", name, "' must be a message { ... }, not a value");
    return f->msg.get();
  }
  std::string str(const text::Field& f, const char* what) const {
    if (f.kind != text::Field::string) fail(f, what, " must be a quoted string, got ", scalar(f));
    if (f.value.size() > limits_.max_name_bytes) fail(f, what, " is longer than ", limits_.max_name_bytes, " bytes");
    return f.value;
  }
  std::vector<std::string> strings(const text::Message& m, const char* name) const {
    std::vector<std::string> out;
    for (const text::Field* f : m.all(name)) out.push_back(str(*f, name));
    return out;
  }
  static std::string scalar(const text::Field& f) {
    if (f.kind == text::Field::message) return "a message";
    return quote(f.value, 40);
  }

  // An integer in [lo, hi]: decimal, 0x hexadecimal or 0 octal, as protobuf's text format has them.
  int64_t integer(const text::Field& f, int64_t lo, int64_t hi) const {
    if (f.kind != text::Field::number) fail(f, "'", f.name, "' must be an integer, got ", scalar(f));
    const std::string& s = f.value;
    size_t i = 0;
    const bool neg = s[0] == '-';
    if (neg || s[0] == '+') ++i;
    int base = 10;
    if (s.size() > i + 1 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
      base = 16;
      i += 2;
    } else if (s.size() > i + 1 && s[i] == '0') {
      base = 8;
      ++i;
    }
    if (i >= s.size()) fail(f, "'", f.name, "' must be an integer, got ", scalar(f));
    uint64_t v = 0;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else d = 99;
      if (d >= base) fail(f, "'", f.name, "' must be an integer, got ", scalar(f));
      if (v > (uint64_t(1) << 62) / uint64_t(base)) fail(f, "'", f.name, "' = ", scalar(f), " is out of range");
      v = v * uint64_t(base) + uint64_t(d);
    }
    const int64_t x = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    if (x < lo || x > hi) fail(f, "'", f.name, "' = ", s, " is outside [", lo, ", ", hi, "]");
    return x;
  }
  double real(const text::Field& f) const {
    if (f.kind != text::Field::number && f.kind != text::Field::identifier)
      fail(f, "'", f.name, "' must be a number, got ", scalar(f));
    std::string s = f.value;
    if (!s.empty() && (s.back() == 'f' || s.back() == 'F') && s.find_first_of("xXnN") == std::string::npos)
      s.pop_back();  // "0.5f"
    // from_chars, not strtod: the same result whatever the program's locale.
    double v = 0;
    const char* first = s.c_str();
    const char* last = first + s.size();
    const auto r = std::from_chars(first, last, v);
    if (s.empty() || r.ec != std::errc() || r.ptr != last) fail(f, "'", f.name, "' must be a number, got ", scalar(f));
    return v;
  }
  bool boolean(const text::Field& f) const {
    if (f.kind == text::Field::identifier || f.kind == text::Field::number) {
      const std::string& v = f.value;
      if (v == "true" || v == "True" || v == "t" || v == "1") return true;
      if (v == "false" || v == "False" || v == "f" || v == "0") return false;
    }
    fail(f, "'", f.name, "' must be true or false, got ", scalar(f));
  }
  std::string enum_name(const text::Field& f) const {
    if (f.kind != text::Field::identifier && f.kind != text::Field::number)
      fail(f, "'", f.name, "' must be an enum value, got ", scalar(f));
    return f.value;
  }
  int64_t get_int(const text::Message* m, const char* name, int64_t dflt, int64_t lo, int64_t hi) const {
    const text::Field* f = m ? one(*m, name) : nullptr;
    return f ? integer(*f, lo, hi) : dflt;
  }
  bool get_bool(const text::Message* m, const char* name, bool dflt) const {
    const text::Field* f = m ? one(*m, name) : nullptr;
    return f ? boolean(*f) : dflt;
  }

  // ---- layers ----
  std::string layer_type(const text::Field& f) const {
    if (f.kind == text::Field::string) return f.value;
    if (f.kind == text::Field::identifier) {
      const std::string v2 = caffe::v1_enum_to_v2(f.value);
      if (v2.empty()) fail(f, "unknown V1 layer type ", f.value);
      return v2;
    }
    if (f.kind == text::Field::number) {
      const std::string v2 = caffe::v1_type_name(static_cast<uint64_t>(integer(f, 0, 1000)));
      if (v2.empty()) fail(f, "unknown V1 layer type ", f.value);
      return v2;
    }
    fail(f, "a layer type must be a string or a V1 enum name, got a message");
  }

  // Caffe's NetStateRule against the TEST phase, level 0 and no stages.
  bool meets(const text::Message& rule) const {
    if (const text::Field* p = one(rule, "phase")) {
      const std::string v = enum_name(*p);
      if (v != "TEST" && v != "TRAIN" && v != "0" && v != "1") fail(*p, "unknown phase ", v);
      if (v != "TEST" && v != "1") return false;
    }
    if (const text::Field* f = one(rule, "min_level"))
      if (integer(*f, INT32_MIN, INT32_MAX) > 0) return false;
    if (const text::Field* f = one(rule, "max_level"))
      if (integer(*f, INT32_MIN, INT32_MAX) < 0) return false;
    return !rule.has("stage");  // the net has no stages; not_stage is always met
  }
  bool included(const text::Message& m, const CaffeNetLayer& l) const {
    const auto inc = m.all("include"), exc = m.all("exclude");
    if (!inc.empty() && !exc.empty()) fail(l.line, "layer ", quote(l.name), " has both include and exclude rules");
    for (const auto* list : {&inc, &exc})
      for (const text::Field* r : *list)
        if (r->kind != text::Field::message) fail(*r, "'", r->name, "' must be a message { ... }");
    if (!inc.empty()) {
      for (const text::Field* r : inc)
        if (meets(*r->msg)) return true;
      return false;
    }
    for (const text::Field* r : exc)
      if (meets(*r->msg)) return false;
    return true;
  }

  Shape input_dims(const std::vector<int64_t>& dims, int line) const {
    if (dims.size() != 2 && dims.size() != 4)
      fail(line, "the input has ", dims.size(), " dimensions; graft takes (batch, features) or (batch, channels, height, width)");
    try {
      return Shape(dims);
    } catch (const Error& e) {
      fail(line, "the input's ", e.what());
    }
  }
  std::vector<int64_t> dims_of(const text::Message& shape) const {
    std::vector<int64_t> d;
    for (const text::Field* f : shape.all("dim")) {
      if (d.size() >= size_t(Shape::kMaxRank)) fail(*f, "a shape with more than ", Shape::kMaxRank, " dimensions");
      d.push_back(integer(*f, 1, INT32_MAX));
    }
    return d;
  }

  void top_level_input(const text::Message& root, CaffeNet& net) const {
    const auto inputs = root.all("input");
    if (inputs.empty()) {
      for (const char* stray : {"input_dim", "input_shape"})
        if (!root.all(stray).empty()) fail(*root.all(stray)[0], "'", stray, "' without 'input:'");
      return;
    }
    if (inputs.size() > 1) fail(*inputs[1], "a second input; graft builds nets with one input");
    net.input = str(*inputs[0], "input");
    net.input_line = inputs[0]->line;
    const auto dims = root.all("input_dim");
    const auto shapes = root.all("input_shape");
    if (!dims.empty() && !shapes.empty()) fail(*shapes[0], "both 'input_dim' and 'input_shape' give the input's shape");
    if (!dims.empty()) {
      if (dims.size() != 4) fail(*dims[0], "'input_dim' is given ", dims.size(), " times; Caffe takes 4 (num, channels, height, width)");
      std::vector<int64_t> d;
      for (const text::Field* f : dims) d.push_back(integer(*f, 1, INT32_MAX));
      net.input_shape = input_dims(d, dims[0]->line);
    } else if (!shapes.empty()) {
      if (shapes.size() > 1) fail(*shapes[1], "a second 'input_shape'; graft builds nets with one input");
      if (shapes[0]->kind != text::Field::message) fail(*shapes[0], "'input_shape' must be a message { dim: ... }");
      net.input_shape = input_dims(dims_of(*shapes[0]->msg), shapes[0]->line);
    } else {
      fail(*inputs[0], "input ", quote(net.input), " has no shape: add four 'input_dim:' lines or an 'input_shape'");
    }
  }

  void input_layer(const text::Message& m, const CaffeNetLayer& l, const std::vector<std::string>& tops,
                   CaffeNet& net) const {
    if (!net.input.empty())
      fail(l.line, "Input layer ", quote(l.name), " after the input ", quote(net.input), " (line ", net.input_line,
           "); graft builds nets with one input");
    if (tops.size() != 1) fail(l.line, "Input layer ", quote(l.name), " has ", tops.size(), " tops; graft takes one input");
    const text::Message* p = sub(m, "input_param");
    const auto shapes = p ? p->all("shape") : std::vector<const text::Field*>();
    if (shapes.size() != 1 || shapes[0]->kind != text::Field::message)
      fail(l.line, "Input layer ", quote(l.name), " needs one input_param { shape { dim: ... } }");
    net.input = tops[0];
    net.input_line = l.line;
    net.input_shape = input_dims(dims_of(*shapes[0]->msg), shapes[0]->line);
  }

  // kernel_size / pad / stride (each given once or per dimension, as in Convolution) or their
  // _h/_w forms, into (h, w).
  void window_field(const text::Message* p, const CaffeNetLayer& l, const char* name, bool repeated, int64_t dflt,
                    int64_t lo, int& h, int& w) const {
    const std::string base = name;
    const text::Field* fh = p ? one(*p, base + "_h") : nullptr;
    const text::Field* fw = p ? one(*p, base + "_w") : nullptr;
    const auto plain = p ? p->all(base == "kernel" ? "kernel_size" : base) : std::vector<const text::Field*>();
    const int64_t hi = int64_t(1) << 16;
    if (fh || fw) {
      if (!plain.empty())
        fail(*plain[0], "layer ", quote(l.name), " gives both '", plain[0]->name, "' and '", base, "_h/_w'");
      if (!fh || !fw) fail(fh ? *fh : *fw, "layer ", quote(l.name), " needs both '", base, "_h' and '", base, "_w'");
      h = static_cast<int>(integer(*fh, lo, hi));
      w = static_cast<int>(integer(*fw, lo, hi));
      return;
    }
    if (plain.size() > (repeated ? 2u : 1u))
      fail(*plain[repeated ? 2 : 1], "layer ", quote(l.name), " gives '", plain[0]->name, "' ", plain.size(),
           " times; graft convolves and pools in 2-d");
    if (plain.empty()) {
      h = w = static_cast<int>(dflt);
      return;
    }
    h = static_cast<int>(integer(*plain[0], lo, hi));
    w = plain.size() == 2 ? static_cast<int>(integer(*plain[1], lo, hi)) : h;
  }

  void parameters(const text::Message& m, CaffeNetLayer& l) const {
    const std::string& t = l.type;
    if (t == "Convolution") {
      const text::Message* p = sub(m, "convolution_param");
      if (!p || !p->has("num_output")) fail(l.line, "Convolution ", quote(l.name), " has no convolution_param { num_output }");
      l.num_output = get_int(p, "num_output", 0, 1, INT32_MAX);
      l.bias_term = get_bool(p, "bias_term", true);
      window_field(p, l, "kernel", true, 0, 1, l.kernel_h, l.kernel_w);
      if (l.kernel_h == 0) fail(l.line, "Convolution ", quote(l.name), " has no kernel_size");
      window_field(p, l, "stride", true, 1, 1, l.stride_h, l.stride_w);
      window_field(p, l, "pad", true, 0, 0, l.pad_h, l.pad_w);
      if (get_int(p, "group", 1, 1, INT32_MAX) != 1)
        fail(*one(*p, "group"), "Convolution ", quote(l.name), " is grouped; graft's convolution has no groups");
      for (const text::Field* d : p->all("dilation"))
        if (integer(*d, 1, INT32_MAX) != 1) fail(*d, "Convolution ", quote(l.name), " is dilated; graft's convolution is not");
      if (get_int(p, "axis", 1, -8, 8) != 1) fail(*one(*p, "axis"), "Convolution ", quote(l.name), ": only axis 1 (channels) is supported");
    } else if (t == "Pooling") {
      const text::Message* p = sub(m, "pooling_param");
      if (const text::Field* pool = p ? one(*p, "pool") : nullptr) {
        const std::string v = enum_name(*pool);
        l.average = v == "AVE" || v == "1";
        if (!l.average && v != "MAX" && v != "0")
          fail(*pool, "Pooling ", quote(l.name), " has pool: ", v, "; graft builds MAX and AVE");
      }
      l.global_pooling = get_bool(p, "global_pooling", false);
      window_field(p, l, "kernel", false, 0, 1, l.kernel_h, l.kernel_w);
      window_field(p, l, "stride", false, 1, 1, l.stride_h, l.stride_w);
      window_field(p, l, "pad", false, 0, 0, l.pad_h, l.pad_w);
      if (l.global_pooling) {
        if (l.kernel_h) fail(l.line, "Pooling ", quote(l.name), " has global_pooling and a kernel size");
        if (l.stride_h != 1 || l.stride_w != 1 || l.pad_h || l.pad_w)
          fail(l.line, "Pooling ", quote(l.name), " with global_pooling must have stride 1 and pad 0");
      } else {
        if (!l.kernel_h) fail(l.line, "Pooling ", quote(l.name), " has no kernel_size");
        if (l.pad_h >= l.kernel_h || l.pad_w >= l.kernel_w)
          fail(l.line, "Pooling ", quote(l.name), ": padding ", l.pad_h, "x", l.pad_w, " must be below the kernel ",
               l.kernel_h, "x", l.kernel_w);
      }
      if (const text::Field* r = p ? one(*p, "round_mode") : nullptr) {
        const std::string v = enum_name(*r);
        if (v != "CEIL" && v != "FLOOR" && v != "0" && v != "1") fail(*r, "unknown round_mode ", v);
        l.ceil_mode = v == "CEIL" || v == "0";
      }
    } else if (t == "InnerProduct") {
      const text::Message* p = sub(m, "inner_product_param");
      if (!p || !p->has("num_output")) fail(l.line, "InnerProduct ", quote(l.name), " has no inner_product_param { num_output }");
      l.num_output = get_int(p, "num_output", 0, 1, INT32_MAX);
      l.bias_term = get_bool(p, "bias_term", true);
      if (get_bool(p, "transpose", false)) fail(*one(*p, "transpose"), "InnerProduct ", quote(l.name), ": transpose is not supported");
      if (get_int(p, "axis", 1, -8, 8) != 1) fail(*one(*p, "axis"), "InnerProduct ", quote(l.name), ": only axis 1 is supported");
    } else if (t == "ReLU") {
      const text::Message* p = sub(m, "relu_param");
      if (const text::Field* s = p ? one(*p, "negative_slope") : nullptr)
        if (real(*s) != 0.0) fail(*s, "ReLU ", quote(l.name), " is leaky (negative_slope ", s->value, "); graft's ReLU is not");
    } else if (t == "Dropout") {
      const text::Message* p = sub(m, "dropout_param");
      if (const text::Field* r = p ? one(*p, "dropout_ratio") : nullptr) {
        const double v = real(*r);
        if (!(v >= 0.0 && v < 1.0)) fail(*r, "Dropout ", quote(l.name), ": dropout_ratio ", r->value, " is outside [0, 1)");
        l.dropout_ratio = static_cast<float>(v);
      }
      if (!get_bool(p, "scale_train", true))
        fail(*one(*p, "scale_train"), "Dropout ", quote(l.name), ": scale_train false is not supported");
    } else if (t == "BatchNorm") {
      const text::Message* p = sub(m, "batch_norm_param");
      if (const text::Field* f = p ? one(*p, "use_global_stats") : nullptr) {
        l.use_global_stats = boolean(*f);
        l.use_global_stats_given = true;
      }
      if (const text::Field* f = p ? one(*p, "eps") : nullptr) {
        l.eps = real(*f);
        if (!(l.eps > 0.0 && l.eps < 1.0)) fail(*f, "BatchNorm ", quote(l.name), ": eps ", f->value, " is outside (0, 1)");
      }
      if (const text::Field* f = p ? one(*p, "moving_average_fraction") : nullptr) {
        l.moving_average_fraction = real(*f);
        if (!(l.moving_average_fraction >= 0.0 && l.moving_average_fraction < 1.0))
          fail(*f, "BatchNorm ", quote(l.name), ": moving_average_fraction ", f->value, " is outside [0, 1)");
      }
    } else if (t == "Scale") {
      const text::Message* p = sub(m, "scale_param");
      l.bias_term = get_bool(p, "bias_term", false);  // Caffe's default: a scale alone
      if (get_int(p, "axis", 1, -8, 8) != 1)
        fail(*one(*p, "axis"), "Scale ", quote(l.name), ": only axis 1 (a factor per channel) is supported");
      if (get_int(p, "num_axes", 1, -1, 8) != 1)
        fail(*one(*p, "num_axes"), "Scale ", quote(l.name), ": only num_axes 1 (a factor per channel) is supported");
    } else if (t == "Eltwise") {
      const text::Message* p = sub(m, "eltwise_param");
      if (const text::Field* op = p ? one(*p, "operation") : nullptr) {
        const std::string v = enum_name(*op);
        if (v == "PROD" || v == "0" || v == "MAX" || v == "2")
          fail(*op, "Eltwise ", quote(l.name), " has operation ", v == "0" ? "PROD" : v == "2" ? "MAX" : v,
               "; graft builds only SUM (with coefficients)");
        if (v != "SUM" && v != "1") fail(*op, "Eltwise ", quote(l.name), ": unknown operation ", v);
      }
      const auto coeffs = p ? p->all("coeff") : std::vector<const text::Field*>();
      if (!coeffs.empty() && coeffs.size() != l.bottoms.size())
        fail(*coeffs[0], "Eltwise ", quote(l.name), " has ", coeffs.size(), " coeff values for ", l.bottoms.size(),
             " bottoms; Caffe needs one per bottom, or none");
      for (const text::Field* c : coeffs) {
        const double v = real(*c);
        if (!std::isfinite(v)) fail(*c, "Eltwise ", quote(l.name), ": coeff ", c->value, " is not a finite number");
        l.coeffs.push_back(v);
      }
    } else if (t == "Softmax") {
      const text::Message* p = sub(m, "softmax_param");
      if (get_int(p, "axis", 1, -8, 8) != 1) fail(*one(*p, "axis"), "Softmax ", quote(l.name), ": only axis 1 is supported");
    }
  }

  void supported(const CaffeNetLayer& l) const {
    for (const char* t : {"Input", "Convolution", "Pooling", "InnerProduct", "ReLU", "Dropout", "BatchNorm", "Scale",
                          "Eltwise", "Softmax"})
      if (l.type == t) return;
    const bool data = l.type.find("Data") != std::string::npos;
    fail(l.line, "layer ", quote(l.name), " has type ", quote(l.type), ", which graft cannot build (it builds "
         "Convolution, Pooling, InnerProduct, ReLU, Dropout, BatchNorm, Scale, Eltwise and Softmax)",
         data ? "; a data layer belongs to a training net: use the deploy prototxt, whose input has a shape" : "");
  }

  std::string file_;
  const ReadLimits& limits_;
};

}  // namespace detail

// A net from prototxt text; `file` names it in errors.
inline CaffeNet parse_prototxt(const std::string& text, const std::string& file, const ReadLimits& limits = {}) {
  const text::Message root = text::parse(text, file, limits);
  return detail::PrototxtReader(file, limits).run(root);
}

inline CaffeNet read_prototxt(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return parse_prototxt(text::read_text(src, limits), path, limits);
}

}  // namespace io
}  // namespace graft
