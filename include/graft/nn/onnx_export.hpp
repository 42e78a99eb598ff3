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
// Any other layer is an error naming the node and its type. The weights are float32.
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

  // The convolution node i reads, when it may absorb node i's per-channel map: a Conv2d that
  // nothing else reads, exported just before.
  Conv2d<T, D>* foldable(size_t i) {
    if (!o_.fold_batch_norm) return nullptr;
    const int k = net_.inputs_of(i).at(0);
    if (k < 0 || readers_[size_t(k)] != 1 || !conv_node_.count(size_t(k))) return nullptr;
    return dynamic_cast<Conv2d<T, D>*>(&net_.layer(size_t(k)));
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
    std::vector<double> bo(static_cast<size_t>(c));
    for (int64_t o = 0; o < c; ++o) {
      for (int64_t q = 0; q < per; ++q) wv[size_t(o * per + q)] = float(double(wv[size_t(o * per + q)]) * double(scale[o]));
      bo[size_t(o)] = b[size_t(o)] * double(scale[o]) + (offset ? double((*offset)[o]) : 0.0);
    }
    std::memcpy(w->data.data(), wv.data(), 4 * wv.size());
    io::Array ba(io::DType::f4, Shape{c});
    for (int64_t o = 0; o < c; ++o) {
      const float f = float(bo[size_t(o)]);
      std::memcpy(ba.data() + 4 * o, &f, 4);
    }
    if (conv.inputs.size() > 2) find_init(conv.inputs[2])->data = std::move(ba);
    else conv.inputs.push_back(initializer(net_.layer(size_t(k)).name() + ".bias", std::move(ba)));
    // The convolution now gives node i's output.
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

  void node(size_t i) {
    Layer<T, D>& l = net_.layer(i);
    const std::string name = l.name();
    const std::vector<int>& ins = net_.inputs_of(i);
    std::vector<std::string> xs;
    for (int k : ins) xs.push_back(input_value(k));
    value_[i] = name;
    used_.insert(name);
    if (auto* c = dynamic_cast<Conv2d<T, D>*>(&l)) {
      const Window2d& w = c->window();
      std::vector<std::string> in{xs[0], initializer(name + ".weight", float_array(host(c->weights.value), c->weights.value.shape()))};
      if (c->has_bias()) in.push_back(initializer(name + ".bias", float_array(host(c->biases.value), c->biases.value.shape())));
      conv_node_[i] = m_.graph.nodes.size();
      node_of("Conv", name, in, name,
              {onnx_ints("kernel_shape", {w.kh, w.kw}), onnx_ints("strides", {w.sh, w.sw}),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_ints("dilations", {1, 1}), onnx_int("group", 1)});
    } else if (auto* f = dynamic_cast<Linear<T, D>*>(&l)) {
      std::string x = xs[0];
      if (in_shape(i, 0).rank() != 2) {
        const std::string fl = fresh(name + ".flatten");
        node_of("Flatten", fl, {x}, fl, {onnx_int("axis", 1)});
        x = fl;
      }
      std::vector<std::string> in{x, initializer(name + ".weight", float_array(host(f->weights.value), f->weights.value.shape()))};
      if (f->has_bias()) in.push_back(initializer(name + ".bias", float_array(host(f->biases.value), f->biases.value.shape())));
      node_of("Gemm", name, in, name, {onnx_float("alpha", 1.0f), onnx_float("beta", 1.0f), onnx_int("transB", 1)});
    } else if (dynamic_cast<ReLU<T, D>*>(&l)) {
      node_of("Relu", name, xs, name);
    } else if (auto* p = dynamic_cast<MaxPool2d<T, D>*>(&l)) {
      const Window2d& w = p->window();
      node_of("MaxPool", name, xs, name,
              {onnx_ints("kernel_shape", {w.kh, w.kw}), onnx_ints("strides", {w.sh, w.sw}),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_int("ceil_mode", w.ceil_mode)});
    } else if (auto* a = dynamic_cast<AvgPool2d<T, D>*>(&l)) {
      const Window2d& w = a->window();
      node_of("AveragePool", name, xs, name,
              {onnx_ints("kernel_shape", {w.kh, w.kw}), onnx_ints("strides", {w.sh, w.sw}),
               onnx_ints("pads", {w.ph, w.pw, w.ph, w.pw}), onnx_int("ceil_mode", w.ceil_mode),
               onnx_int("count_include_pad", a->count_pad())});
    } else if (dynamic_cast<GlobalAvgPool2d<T, D>*>(&l)) {
      node_of("GlobalAveragePool", name, xs, name);
    } else if (auto* b = dynamic_cast<BatchNorm2d<T, D>*>(&l)) {
      if (foldable(i)) {
        // The evaluation-mode map, as BatchNorm2d::to_affine computes it (in double).
        const Tensor<T> g = host(b->scale.value), be = host(b->offset.value), mu = host(b->running_mean),
                        var = host(b->running_var);
        Tensor<T> s(Shape{b->channels()}), o(Shape{b->channels()});
        for (int64_t k = 0; k < b->channels(); ++k) {
          const double sk = double(g[k]) / std::sqrt(double(var[k]) + b->eps());
          s[k] = T(sk);
          o[k] = T(double(be[k]) - double(mu[k]) * sk);
        }
        fold(i, ins[0], s, &o);
        return;
      }
      const Shape c{b->channels()};
      node_of("BatchNormalization", name,
              {xs[0], initializer(name + ".weight", float_array(host(b->scale.value), c)),
               initializer(name + ".bias", float_array(host(b->offset.value), c)),
               initializer(name + ".running_mean", float_array(host(b->running_mean), c)),
               initializer(name + ".running_var", float_array(host(b->running_var), c))},
              name, {onnx_float("epsilon", float(b->eps())), onnx_float("momentum", float(1.0 - b->momentum()))});
    } else if (auto* af = dynamic_cast<Affine<T, D>*>(&l)) {
      const Tensor<T> s = host(af->scale.value);
      Tensor<T> o;
      if (af->has_offset()) o = host(af->offset.value);
      if (foldable(i)) {
        fold(i, ins[0], s, af->has_offset() ? &o : nullptr);
        return;
      }
      const Shape cs = channel_shape(af->channels(), in_shape(i, 0).rank());
      if (!af->has_offset()) {
        node_of("Mul", name, {xs[0], initializer(name + ".scale", float_array(s, cs))}, name);
      } else {
        const std::string mul = fresh(name + ".scaled");
        // The Mul carries the node's name (the importer names the merged Affine after it).
        m_.graph.nodes.push_back(io::OnnxNode());
        io::OnnxNode& mn = m_.graph.nodes.back();
        mn.op_type = "Mul";
        mn.name = name;
        mn.inputs = {xs[0], initializer(name + ".scale", float_array(s, cs))};
        mn.outputs = {mul};
        node_of("Add", fresh(name + ".offset"), {mul, initializer(name + ".bias", float_array(o, cs))}, name);
      }
    } else if (auto* ad = dynamic_cast<Add<T, D>*>(&l)) {
      std::vector<std::string> terms = xs;
      if (ad->zero_pad()) {
        const Shape& out = net_.shape_after(int(i));
        for (size_t j = 0; j < ins.size(); ++j) {
          const Shape& s = in_shape(i, j);
          if (s == out) continue;
          std::vector<int64_t> pads(size_t(2 * s.rank()), 0);
          for (int a = 1; a < s.rank(); ++a) pads[size_t(s.rank() + a)] = out[a] - s[a];
          const std::string pn = fresh(name + ".pad" + std::to_string(j));
          node_of("Pad", pn, {terms[j], int_initializer(pn + ".pads", pads)}, pn, {});
          m_.graph.nodes.back().attributes.push_back([] {
            io::OnnxAttribute a;
            a.name = "mode";
            a.type = io::OnnxAttrType::s;
            a.s = "constant";
            return a;
          }());
          terms[j] = pn;
        }
      }
      sum(name, terms, name);
    } else if (dynamic_cast<AddReLU<T, D>*>(&l)) {
      const std::string s = fresh(name + ".add");
      sum(s, xs, s);
      node_of("Relu", name, {s}, name);
    } else if (dynamic_cast<Dropout<T, D>*>(&l)) {
      value_[i] = xs[0];  // evaluation form: the identity
    } else if (dynamic_cast<Flatten<T, D>*>(&l)) {
      node_of("Flatten", name, xs, name, {onnx_int("axis", 1)});
    } else {
      GRAFT_FAIL("graft has no ONNX form for layer type ", l.type(),
                 " (it writes Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d, GlobalAvgPool2d, BatchNorm2d, Affine, Add, "
                 "AddReLU, Dropout, Flatten)");
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
