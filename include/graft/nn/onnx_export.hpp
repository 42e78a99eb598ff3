// graft networks as ONNX files (opset 13), in evaluation form, for onnxruntime, OpenCV's dnn
// module or any other runtime:
//
//   nn::OnnxExportOptions o;
//   o.metadata = nn::onnx_metadata(info);       // preprocessing and class names (model_file.hpp)
//   nn::save_onnx(*net, "gender.onnx", o);
//
// The graph reads "input" (batch, C, H, W; the batch is symbolic) and, by default, ends in a
// Softmax whose output "probabilities" is the graph's output (OnnxExportOptions::softmax =
// false: the logits). Each graft node becomes ONNX nodes named after it, its output value
// named as the node (so a runtime can fetch any activation by graft's name):
//   Conv2d -> Conv (weights "NAME.weight" OIHW, "NAME.bias")
//   Linear -> Gemm (transB 1), after a Flatten "NAME.flatten" when its input is 4-d
//   ReLU -> Relu;  MaxPool2d -> MaxPool;  AvgPool2d -> AveragePool (count_include_pad as the
//   layer counts the padding);  GlobalAvgPool2d -> GlobalAveragePool;  Flatten -> Flatten
//   BatchNorm2d -> BatchNormalization (its running statistics), or, with fold_batch_norm,
//   folded into the convolution before it when nothing else reads that convolution
//   Affine -> Mul by its scale (1, C, 1, 1), then Add "NAME.offset" of its offset (the
//   importer reads the pair back as one Affine); folded into a convolution like a BatchNorm
//   Add -> Add (a chain for more than two inputs); zero_pad: each smaller input is first
//   zero-padded at the end of each axis by a Pad "NAME.padN" (constant mode)
//   AddReLU -> Add "NAME.add", Relu;  Dropout -> nothing (identity in evaluation)
//   LeakyRelu -> LeakyRelu (alpha);  PRelu -> PRelu (slope "NAME.slope": (C, 1, 1) for a 4-d
//   input, (C) for a 2-d one, (1) shared);  Softmax -> Softmax (axis 1; a 4-d input needs
//   opset 13, where axis 1 is the channels alone)
// The exporter reads each layer's spec() (what it computes) and its parameters and buffers
// by name, never its C++ type; a layer with no portable spec is an error naming the node
// and its type. The weights are float32.
// Reading the file back with nn::onnx_network gives a network that computes the same
// outputs bit for bit (BatchNorm kept; a folded one computes the folded map).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/io/array.hpp"
#include "graft/io/onnx.hpp"
#include "graft/io/quote.hpp"
#include "graft/layers/layers.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

struct OnnxExportOptions {
  bool softmax = true;          // end in a Softmax: the graph outputs probabilities
  bool fold_batch_norm = false;  // fold BatchNorm2d and Affine nodes into the convolution before them
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props
  std::string graph_name = "graft";
  int64_t opset = 13;
};

namespace detail {

inline io::OnnxAttribute onnx_ints(const char* name, std::vector<int64_t> v) {
  io::OnnxAttribute a;
  a.name = name;
  a.type = io::OnnxAttrType::ints;
  a.ints = std::move(v);
  return a;
}
inline io::OnnxAttribute onnx_int(const char* name, int64_t v) {
  io::OnnxAttribute a;
  a.name = name;
  a.type = io::OnnxAttrType::i;
  a.i = v;
  return a;
}
inline io::OnnxAttribute onnx_float(const char* name, float v) {
  io::OnnxAttribute a;
  a.name = name;
  a.type = io::OnnxAttrType::f;
  a.f = v;
  return a;
}

template <class T>
io::Array float_array(const Tensor<T>& t, const Shape& shape) {
  io::Array a(io::DType::f4, shape);
  for (int64_t i = 0; i < t.size(); ++i) {
    const float f = float(t[i]);
    std::memcpy(a.data() + 4 * i, &f, 4);
  }
  return a;
}

template <class T, class D>
class OnnxExporter {
 public:
  OnnxExporter(Network<T, D>& net, const OnnxExportOptions& o) : net_(net), o_(o) {}

  io::OnnxModel run() {
    GRAFT_CHECK(net_.size() > 0, "save_onnx: the network has no nodes");
    m_.ir_version = 7;  // ONNX 1.8+: what opset 13 needs
    m_.producer_name = "graft";
    m_.opsets = {{"", o_.opset}};
    m_.metadata = o_.metadata;
    m_.graph.name = o_.graph_name;
    io::OnnxValueInfo in;
    in.name = "input";
    in.elem_type = io::onnx_type::kFloat;
    in.has_shape = true;
    in.dims.push_back(-1);
    in.dim_params.push_back("batch");
    for (int i = 0; i < net_.sample_shape().rank(); ++i) {
      in.dims.push_back(net_.sample_shape()[i]);
      in.dim_params.push_back("");
    }
    m_.graph.inputs.push_back(in);
    for (size_t i = 0; i < net_.size(); ++i) names_.insert(net_.layer(i).name());
    readers_.assign(net_.size(), 0);
    for (size_t i = 0; i < net_.size(); ++i)
      for (int k : net_.inputs_of(i))
        if (k >= 0) ++readers_[size_t(k)];
    value_.assign(net_.size(), "");
    for (size_t i = 0; i < net_.size(); ++i) {
      try {
        node(i);
      } catch (const Error& e) {
        throw Error("save_onnx: node " + io::quote(net_.layer(i).name()) + " (" + net_.layer(i).type() + "): " +
                    e.what());
      }
    }
    std::string out = value_.back();
    const Shape& os = net_.output_shape();
    if (o_.softmax) {
      GRAFT_CHECK(os.rank() == 2, "save_onnx: a final Softmax needs an output (n, classes), the network's is ",
                  os.str(), " (OnnxExportOptions::softmax = false exports it as it is)");
      const std::string p = fresh("probabilities");
      node_of("Softmax", p, {out}, p, {onnx_int("axis", 1)});
      out = p;
    }
    io::OnnxValueInfo ov;
    ov.name = out;
    ov.elem_type = io::onnx_type::kFloat;
    ov.has_shape = true;
    ov.dims.push_back(-1);
    ov.dim_params.push_back("batch");
    for (int i = 1; i < os.rank(); ++i) {
      ov.dims.push_back(os[i]);
      ov.dim_params.push_back("");
    }
    m_.graph.outputs.push_back(ov);
    return std::move(m_);
  }

 private:
  // A name no graft node and no earlier ONNX name has.
  std::string fresh(const std::string& want) {
    std::string n = want;
    for (int k = 1; names_.count(n) || used_.count(n); ++k) n = want + "_" + std::to_string(k);
    used_.insert(n);
    return n;
  }
  void node_of(const char* op, const std::string& name, std::vector<std::string> inputs, const std::string& output,
               std::vector<io::OnnxAttribute> attrs = {}) {
    io::OnnxNode n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = {output};
    n.attributes = std::move(attrs);
    m_.graph.nodes.push_back(std::move(n));
  }
  std::string initializer(const std::string& want, io::Array a) {
    io::OnnxTensor t;
    t.name = fresh(want);
    t.data = std::move(a);
    m_.graph.initializers.push_back(std::move(t));
    return m_.graph.initializers.back().name;
  }
  std::string int_initializer(const std::string& want, const std::vector<int64_t>& v) {
    io::Array a(io::DType::i8, Shape{int64_t(v.size())});
    if (!v.empty()) std::memcpy(a.data(), v.data(), 8 * v.size());
    return initializer(want, std::move(a));
  }
  template <class P>
  static Tensor<T> host(const P& t) {
    Tensor<T> h;
    copy_to_host(t, h);
    return h;
  }
  // A per-channel vector of C values shaped to broadcast over (n, C[, H, W]).
  static Shape channel_shape(int64_t c, int rank) { return rank == 4 ? Shape{1, c, 1, 1} : Shape{1, c}; }

  std::string input_value(int k) const { return k < 0 ? std::string("input") : value_[size_t(k)]; }
  const Shape& in_shape(size_t i, size_t j) const { return net_.shape_after(net_.inputs_of(i).at(j)); }

  // A parameter or buffer of a layer by name (null: it has none).
  static Param<T, D>* param(Layer<T, D>& l, const char* name) {
    for (auto* p : l.params())
      if (p->name == name) return p;
    return nullptr;
  }
  static Tensor<T, D>* buffer(Layer<T, D>& l, const char* name) {
    for (auto& b : l.buffers())
      if (b.name == name) return b.tensor;
    return nullptr;
  }
  static Param<T, D>& need(Layer<T, D>& l, const char* name) {
    Param<T, D>* p = param(l, name);
    GRAFT_CHECK(p, "has no parameter ", io::quote(name));
    return *p;
  }
  std::string param_initializer(const std::string& want, const Param<T, D>& p) {
    return initializer(want, float_array(host(p.value), p.value.shape()));
  }

  // Whether node i's per-channel map may go into the convolution it reads: a convolution
  // that nothing else reads, exported just before (and fold_batch_norm asked for).
  bool foldable(size_t i) const {
    if (!o_.fold_batch_norm) return false;
    const int k = net_.inputs_of(i).at(0);
    return k >= 0 && readers_[size_t(k)] == 1 && conv_node_.count(size_t(k));
  }
  // Rewrites the exported Conv of node k (reading into node i) as scale * conv + offset.
  void fold(size_t i, int k, const Tensor<T>& scale, const Tensor<T>* offset) {
    io::OnnxNode& conv = m_.graph.nodes[conv_node_.at(size_t(k))];
    io::OnnxTensor* w = find_init(conv.inputs[1]);
    const int64_t c = w->data.shape()[0], per = w->data.size() / c;
    std::vector<float> wv(static_cast<size_t>(w->data.size()));
    std::memcpy(wv.data(), w->data.data(), 4 * wv.size());
    std::vector<double> b(static_cast<size_t>(c), 0.0);
    if (conv.inputs.size() > 2) {
      io::OnnxTensor* bt = find_init(conv.inputs[2]);
      for (int64_t o = 0; o < c; ++o) b[size_t(o)] = bt->data.value(o);
    }
    io::Array ba(io::DType::f4, Shape{c});
    for (int64_t o = 0; o < c; ++o) {
      for (int64_t q = 0; q < per; ++q) wv[size_t(o * per + q)] = float(double(wv[size_t(o * per + q)]) * double(scale[o]));
      const float f = float(b[size_t(o)] * double(scale[o]) + (offset ? double((*offset)[o]) : 0.0));
      std::memcpy(ba.data() + 4 * o, &f, 4);
    }
    std::memcpy(w->data.data(), wv.data(), 4 * wv.size());
    if (conv.inputs.size() > 2) find_init(conv.inputs[2])->data = std::move(ba);
    else conv.inputs.push_back(initializer(net_.layer(size_t(k)).name() + ".bias", std::move(ba)));
    // The convolution now gives node i's output, under node i's name.
    const std::string out = net_.layer(i).name();
    conv.outputs = {out};
    value_[size_t(k)] = "";
    value_[i] = out;
    conv_node_.erase(size_t(k));
  }
  io::OnnxTensor* find_init(const std::string& name) {
    for (auto& t : m_.graph.initializers)
      if (t.name == name) return &t;
    GRAFT_FAIL("save_onnx: no initializer ", io::quote(name));
  }
  static io::OnnxAttribute window_attr(const char* name, int a, int b) { return onnx_ints(name, {a, b}); }

  void node(size_t i) {
    Layer<T, D>& l = net_.layer(i);
    const LayerSpec spec = l.spec();
    const std::string& op = spec.op;
    const std::string name = l.name();
    const std::vector<int>& ins = net_.inputs_of(i);
    std::vector<std::string> xs;
    for (int k : ins) xs.push_back(input_value(k));
    value_[i] = name;
    used_.insert(name);
    const Window2d& w = spec.window;
    if (op == "conv") {
      std::vector<std::string> in{xs[0], param_initializer(name + ".weight", need(l, "weights"))};
      if (Param<T, D>* b = param(l, "biases")) in.push_back(param_initializer(name + ".bias", *b));
      conv_node_[i] = m_.graph.nodes.size();
      node_of("Conv", name, in, name,
              {window_attr("kernel_shape", w.kh, w.kw), window_attr("strides", w.sh, w.sw),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_ints("dilations", {1, 1}), onnx_int("group", 1)});
    } else if (op == "linear") {
      std::string x = xs[0];
      if (in_shape(i, 0).rank() != 2) {  // graft's Linear reads (n, C, H, W) as (n, C*H*W)
        const std::string fl = fresh(name + ".flatten");
        node_of("Flatten", fl, {x}, fl, {onnx_int("axis", 1)});
        x = fl;
      }
      std::vector<std::string> in{x, param_initializer(name + ".weight", need(l, "weights"))};
      if (Param<T, D>* b = param(l, "biases")) in.push_back(param_initializer(name + ".bias", *b));
      node_of("Gemm", name, in, name, {onnx_float("alpha", 1.0f), onnx_float("beta", 1.0f), onnx_int("transB", 1)});
    } else if (op == "relu") {
      node_of("Relu", name, xs, name);
    } else if (op == "max_pool") {
      node_of("MaxPool", name, xs, name,
              {window_attr("kernel_shape", w.kh, w.kw), window_attr("strides", w.sh, w.sw),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_int("ceil_mode", w.ceil_mode)});
    } else if (op == "avg_pool") {
      node_of("AveragePool", name, xs, name,
              {window_attr("kernel_shape", w.kh, w.kw), window_attr("strides", w.sh, w.sw),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_int("ceil_mode", w.ceil_mode),
               onnx_int("count_include_pad", spec.count_pad)});
    } else if (op == "global_avg_pool") {
      node_of("GlobalAveragePool", name, xs, name);
    } else if (op == "batch_norm") {
      Param<T, D>&g = need(l, "scale"), &be = need(l, "offset");
      Tensor<T, D>*mu = buffer(l, "mean"), *var = buffer(l, "variance");
      GRAFT_CHECK(mu && var, "has no running statistics (buffers mean and variance)");
      const int64_t c = g.value.size();
      if (foldable(i)) {
        // The evaluation-mode map, as BatchNorm2d::to_affine computes it (in double).
        const Tensor<T> gh = host(g.value), bh = host(be.value), mh = host(*mu), vh = host(*var);
        Tensor<T> sc(Shape{c}), of(Shape{c});
        for (int64_t k = 0; k < c; ++k) {
          const double sk = double(gh[k]) / std::sqrt(double(vh[k]) + spec.eps);
          sc[k] = T(sk);
          of[k] = T(double(bh[k]) - double(mh[k]) * sk);
        }
        fold(i, ins[0], sc, &of);
        return;
      }
      node_of("BatchNormalization", name,
              {xs[0], param_initializer(name + ".weight", g), param_initializer(name + ".bias", be),
               initializer(name + ".running_mean", float_array(host(*mu), Shape{c})),
               initializer(name + ".running_var", float_array(host(*var), Shape{c}))},
              name, {onnx_float("epsilon", float(spec.eps)), onnx_float("momentum", float(1.0 - spec.momentum))});
    } else if (op == "affine") {
      const Tensor<T> sc = host(need(l, "scale").value);
      Param<T, D>* off = param(l, "offset");
      Tensor<T> of;
      if (off) of = host(off->value);
      if (foldable(i)) {
        fold(i, ins[0], sc, off ? &of : nullptr);
        return;
      }
      const Shape cs = channel_shape(sc.size(), in_shape(i, 0).rank());
      if (!off) {
        node_of("Mul", name, {xs[0], initializer(name + ".scale", float_array(sc, cs))}, name);
      } else {
        // The Mul carries the node's name (the importer reads the pair back as one Affine of
        // that name), the Add gives the node's output.
        const std::string mul = fresh(name + ".scaled");
        node_of("Mul", name, {xs[0], initializer(name + ".scale", float_array(sc, cs))}, mul);
        node_of("Add", fresh(name + ".offset"), {mul, initializer(name + ".bias", float_array(of, cs))}, name);
      }
    } else if (op == "add") {
      std::vector<std::string> terms = xs;
      if (spec.zero_pad) {
        const Shape& out = net_.shape_after(int(i));
        for (size_t j = 0; j < ins.size(); ++j) {
          const Shape& s = in_shape(i, j);
          if (s == out) continue;
          // Zeros at the end of each axis after the batch, as graft's Add counts them.
          std::vector<int64_t> pads(static_cast<size_t>(2 * s.rank()), 0);
          for (int a = 1; a < s.rank(); ++a) pads[size_t(s.rank() + a)] = out[a] - s[a];
          const std::string pn = fresh(name + ".pad" + std::to_string(j));
          io::OnnxAttribute mode;
          mode.name = "mode";
          mode.type = io::OnnxAttrType::s;
          mode.s = "constant";
          node_of("Pad", pn, {terms[j], int_initializer(pn + ".pads", pads)}, pn, {mode});
          terms[j] = pn;
        }
      }
      sum(name, terms, name);
    } else if (op == "add_relu") {
      const std::string s = fresh(name + ".add");
      sum(s, xs, s);
      node_of("Relu", name, {s}, name);
    } else if (op == "dropout") {
      value_[i] = xs[0];  // evaluation form: the identity
    } else if (op == "flatten") {
      node_of("Flatten", name, xs, name, {onnx_int("axis", 1)});
    } else if (op == "leaky_relu") {
      node_of("LeakyRelu", name, xs, name, {onnx_float("alpha", float(spec.alpha))});
    } else if (op == "prelu") {
      // ONNX broadcasts the slope aligned at the last axis: per channel it is (C, 1, 1) for
      // (n, C, H, W), (C) for (n, C); a shared slope (1) broadcasts to anything.
      const Param<T, D>& sl = need(l, "slope");
      const int64_t k = sl.value.size();
      const Shape ss = k == 1 ? Shape{1} : in_shape(i, 0).rank() == 4 ? Shape{k, 1, 1} : Shape{k};
      node_of("PRelu", name, {xs[0], initializer(name + ".slope", float_array(host(sl.value), ss))}, name);
    } else if (op == "softmax") {
      // axis 1 alone from opset 13 on; before, axis 1 would flatten C, H, W into one softmax.
      GRAFT_CHECK(o_.opset >= 13 || in_shape(i, 0).rank() == 2, "a Softmax over the channels of ",
                  in_shape(i, 0).str(), " needs opset 13 or later (OnnxExportOptions::opset is ", o_.opset, ")");
      node_of("Softmax", name, xs, name, {onnx_int("axis", 1)});
    } else {
      GRAFT_FAIL("graft has no ONNX form for layer type ", l.type(),
                 " (its spec() names no portable operation; graft writes Conv2d, Linear, ReLU, LeakyRelu, PRelu, "
                 "MaxPool2d, AvgPool2d, GlobalAvgPool2d, BatchNorm2d, Affine, Add, AddReLU, Dropout, Flatten, Softmax)");
    }
  }
  // terms[0] + terms[1] + ...: one Add for two terms, a chain (NAME.sumK) for more.
  void sum(const std::string& name, const std::vector<std::string>& terms, const std::string& out) {
    std::string acc = terms[0];
    for (size_t j = 1; j < terms.size(); ++j) {
      const bool last = j + 1 == terms.size();
      const std::string n = last ? name : fresh(name + ".sum" + std::to_string(j));
      node_of("Add", n, {acc, terms[j]}, last ? out : n);
      acc = n;
    }
  }

  Network<T, D>& net_;
  OnnxExportOptions o_;
  io::OnnxModel m_;
  std::set<std::string> names_, used_;
  std::vector<int> readers_;
  std::vector<std::string> value_;     // the ONNX value each graft node's output is
  std::map<size_t, size_t> conv_node_;  // graft conv node -> its ONNX node (while foldable)
};

}  // namespace detail

// The ONNX model of `net` in evaluation form (see above).
template <class T, class D>
io::OnnxModel onnx_model(Network<T, D>& net, const OnnxExportOptions& o = {}) {
  return detail::OnnxExporter<T, D>(net, o).run();
}

// Writes `net` as an ONNX file (temporary file, then rename).
template <class T, class D>
void save_onnx(Network<T, D>& net, const std::string& path, const OnnxExportOptions& o = {}) {
  io::OnnxModel m = onnx_model(net, o);
  m.file = path;
  io::write_onnx(path, m);
}

}  // namespace nn
}  // namespace graft
