// Model files that describe themselves: the weights (caffe-tensorflow layout, keys
// "layer/param") plus "graft/meta", UTF-8 text of "key=value" lines holding the
// architecture, the class names, the input size and the preprocessing, so that evaluating
// or predicting needs no other flags. NumPy reads it as any .npz:
//   meta = bytes(np.load("model.npz")["graft/meta"]).decode()
// An ONNX file graft exported (nn::save_onnx with onnx_metadata) describes itself the same
// way: the text is its metadata_props entry "graft.model", beside readable entries for other
// consumers (classes, channel_order, scale, mean, std, input_size); read back, its network is
// the file's graph (arch "onnx").
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "graft/data/normalize.hpp"
#include "graft/io/npz.hpp"
#include "graft/io/weights.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/onnx.hpp"
#include "graft/nn/onnx_export.hpp"
#include "graft/nn/resnet.hpp"
#include "graft/nn/vgg.hpp"

namespace graft {
namespace nn {

struct ModelInfo {
  std::string arch = "vgg16";          // vgg16 (vgg-face is vgg16 with 2622 classes), resnet18/34/50
  VggOptions vgg;                      // width, input side, dropout (a ResNet has none: 0 is kept)
  std::vector<std::string> classes;    // class names in output order
  data::Normalization norm = data::Normalization::vgg_face();
  int resize = 0;                      // shorter side before the centre crop (0: input side)
  std::string task;                    // what the model was trained for (e.g. "gender")
  // arch "caffe": the deploy prototxt the network is built from (its output layer resized to
  // the classes). The file is named, not copied: it must stay where it was.
  std::string prototxt;
  // arch "onnx": the .onnx file whose graph the network is (its output layer resized to the
  // classes, or a new Linear "head" on its output; see onnx_build_options). Named, not copied.
  std::string onnx;
  // arch "dlib-face" (dlib's face ResNet, nn::dlib_face_resnet, with a Linear "head" for the
  // classes): the node the head reads, "fc" (the 128-d descriptor) or "pool" (the 256-d
  // pooled features), and the .dat's dist_thresh (descriptors closer are one person).
  std::string head_on = "fc";
  double dist_thresh = 0.6;
  // arch "dlib-face": how an image becomes the 150x150 input. "dlib": a UTKFace-style crop
  // (dlib's own chip at size 200, padding 0.2) resized to 140 inside a 5-pixel black border,
  // dlib's chip at size 150, padding 0.25, which the model was trained on; "resize": the
  // whole image resized to 150 (the plain alternative, kept to measure the chip against).
  std::string chip = "dlib";
  // arch "dlib-face": "affine" (dlib's frozen affines, the pretrained trunk) or "batchnorm"
  // (BatchNorm2d in their place: the architecture trained from random weights).
  std::string trunk_norm = "affine";

  int64_t input() const { return vgg.input; }
  bool resnet() const { return is_resnet(arch); }
  bool dlib_face() const { return arch == "dlib-face"; }
  ResNetOptions resnet_options() const { return {vgg.input, vgg.width}; }
  // "vgg16 width 0.25, input 64, dropout 0.5", "resnet18 width 1, input 224": for reports.
  std::string geometry() const {
    std::ostringstream os;
    if (arch == "caffe") {
      os << "the network of " << prototxt << ", input " << vgg.input;
      return os.str();
    }
    if (arch == "onnx") {
      os << "the graph of " << onnx << ", input " << vgg.input;
      return os.str();
    }
    if (dlib_face()) {
      os << "dlib-face (dlib's face ResNet), head on " << head_on << ", input " << vgg.input
         << (chip == "dlib" ? ", dlib's face chip" : ", images resized whole")
         << (trunk_norm == "batchnorm" ? ", BatchNorm in place of the affines" : "");
      return os.str();
    }
    os << arch << " width " << vgg.width << ", input " << vgg.input;
    if (!resnet()) os << ", dropout " << vgg.dropout;
    return os.str();
  }
  std::string str() const {
    std::ostringstream os;
    os.precision(9);
    os << "format=graft-model-1\narch=" << arch << "\nwidth=" << vgg.width << "\ninput=" << vgg.input
       << "\ndropout=" << vgg.dropout << "\nclasses=";
    for (size_t i = 0; i < classes.size(); ++i) os << (i ? "," : "") << classes[i];
    os << "\norder=" << (norm.order == data::Normalization::Order::BGR ? "bgr" : "rgb")
       << "\nscale=" << norm.scale << "\nmean=" << norm.mean[0] << "," << norm.mean[1] << ","
       << norm.mean[2] << "\nstd=" << norm.stddev[0] << "," << norm.stddev[1] << "," << norm.stddev[2]
       << "\nresize=" << resize << "\ntask=" << task << "\n";
    if (!prototxt.empty()) os << "prototxt=" << prototxt << "\n";
    if (!onnx.empty()) os << "onnx=" << onnx << "\n";
    if (dlib_face()) os << "head_on=" << head_on << "\ndist_thresh=" << dist_thresh << "\nchip=" << chip << "\ntrunk_norm=" << trunk_norm << "\n";
    return os.str();
  }

  static std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream is(s);
    while (std::getline(is, cur, sep)) out.push_back(cur);
    return out;
  }

  static ModelInfo parse(const std::string& text, const std::string& where) {
    std::map<std::string, std::string> kv;
    for (const auto& line : split(text, '\n')) {
      if (line.empty()) continue;
      const size_t eq = line.find('=');
      GRAFT_CHECK(eq != std::string::npos, where, ": bad model description line '", line, "'");
      kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    GRAFT_CHECK(kv["format"] == "graft-model-1", where, ": not a graft model description (format '",
                kv["format"], "')");
    auto num = [&](const char* k) {
      char* end = nullptr;
      const std::string& v = kv[k];
      const double d = std::strtod(v.c_str(), &end);
      GRAFT_CHECK(!v.empty() && end && *end == 0, where, ": model description has a bad ", k, " '", v, "'");
      return d;
    };
    auto triple = [&](const char* k) {
      auto p = split(kv[k], ',');
      GRAFT_CHECK(p.size() == 3, where, ": model description needs three values for ", k);
      return std::array<float, 3>{{std::stof(p[0]), std::stof(p[1]), std::stof(p[2])}};
    };
    ModelInfo m;
    m.arch = kv["arch"];
    m.vgg.width = num("width");
    m.vgg.input = int64_t(num("input"));
    m.vgg.dropout = float(num("dropout"));
    m.classes = split(kv["classes"], ',');
    GRAFT_CHECK(!m.classes.empty(), where, ": model description lists no classes");
    m.norm.order = kv["order"] == "rgb" ? data::Normalization::Order::RGB : data::Normalization::Order::BGR;
    m.norm.scale = float(num("scale"));
    m.norm.mean = triple("mean");
    m.norm.stddev = triple("std");
    m.resize = int(num("resize"));
    m.task = kv["task"];
    m.prototxt = kv["prototxt"];  // absent before arch "caffe": empty
    m.onnx = kv["onnx"];
    if (m.dlib_face()) {
      m.head_on = kv["head_on"];
      GRAFT_CHECK(m.head_on == "fc" || m.head_on == "pool", where, ": model description has head_on '", m.head_on,
                  "' (fc or pool)");
      m.dist_thresh = num("dist_thresh");
      m.chip = kv.count("chip") ? kv["chip"] : "dlib";  // written since the chip could be turned off
      GRAFT_CHECK(m.chip == "dlib" || m.chip == "resize", where, ": model description has chip '", m.chip,
                  "' (dlib or resize)");
      m.trunk_norm = kv.count("trunk_norm") ? kv["trunk_norm"] : "affine";
      GRAFT_CHECK(m.trunk_norm == "affine" || m.trunk_norm == "batchnorm", where, ": model description has trunk_norm '",
                  m.trunk_norm, "' (affine or batchnorm)");
    }
    return m;
  }
};

// "caffe": the network of a deploy prototxt (ModelInfo::prototxt), its output layer resized.
// "onnx": the graph of an .onnx file (ModelInfo::onnx).
inline bool known_arch(const std::string& arch) {
  return arch == "vgg16" || arch == "vgg-face" || arch == "caffe" || arch == "dlib-face" || arch == "onnx" ||
         is_resnet(arch);
}
inline const char* known_archs() { return "vgg16, vgg-face, resnet18, resnet34, resnet50, caffe, dlib-face, onnx"; }

// arch "onnx": how the file's graph gets `classes` outputs. A last node that is a Gemm,
// MatMul or Conv is resized (it is the classifier: its name is the one to train from
// scratch); a graph ending otherwise (an embedding network: BatchNorm, Flatten ...) gets a new
// Linear "head" on its output, unless it already gives `classes` values (classes 0: not yet
// known, a head is appended).
struct OnnxHead {
  std::string node;      // the classifier node
  bool appended = false;  // a new Linear "head"
  int64_t file_outputs = 0;  // what the graph's output gives per sample
};
inline OnnxHead onnx_head(const OnnxPlan& plan, int64_t classes) {
  OnnxHead h;
  GRAFT_CHECK(!plan.nodes.empty(), plan.file, ": the graph builds no node");
  const OnnxPlanNode& last = plan.nodes.back();
  h.file_outputs = last.out.numel();
  if (last.kind == OnnxPlanNode::linear || last.kind == OnnxPlanNode::conv) {
    h.node = last.name;
  } else if (classes != h.file_outputs) {
    h.node = "head";
    h.appended = true;
  } else {
    h.node = last.name;
  }
  return h;
}
inline OnnxHead onnx_head(const std::string& path, int64_t classes) {
  return onnx_head(onnx_plan(io::read_onnx(path)), classes);
}

// The node a task's new classifier is (what --scratch and the first stage name by default).
// (arch "onnx": onnx_head names it, from the file.)
inline std::string classifier_node(const std::string& arch) {
  if (is_resnet(arch)) return "fc";
  if (arch == "dlib-face") return "head";
  return "fc8";
}

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> build(const ModelInfo& m) {
  GRAFT_CHECK(known_arch(m.arch), "model: unknown architecture '", m.arch, "' (known: ", known_archs(), ")");
  if (m.resnet()) return resnet_by_name<T, D>(m.arch, int64_t(m.classes.size()), m.resnet_options());
  if (m.arch == "caffe") {
    GRAFT_CHECK(!m.prototxt.empty(), "model: arch caffe names no prototxt to build the network from");
    return caffe_network<T, D>(with_outputs(io::read_prototxt(m.prototxt), int64_t(m.classes.size())));
  }
  if (m.arch == "onnx") {
    GRAFT_CHECK(!m.onnx.empty(), "model: arch onnx names no .onnx file to build the network from");
    const int64_t k = int64_t(m.classes.size());
    OnnxPlan plan = onnx_plan(io::read_onnx(m.onnx));
    const OnnxHead h = onnx_head(plan, k);
    const OnnxPlanNode::Kind last = plan.nodes.back().kind;
    if (last == OnnxPlanNode::linear || last == OnnxPlanNode::conv) onnx_with_outputs(plan, k);
    auto net = onnx_network<T, D>(plan);
    if (h.appended) net->fc("head", k);
    GRAFT_CHECK(net->output_shape().numel() == k, "model: the graph of ", m.onnx, " gives ", net->output_shape().str(),
                " per image, not the ", k, " classes (", m.classes.size(), " names)");
    return net;
  }
  if (m.dlib_face()) {
    // dlib's trunk (its affines frozen) and a new Linear "head" on the descriptor or on the
    // pooled features; with the latter, fc is left out so the head ends the network.
    GRAFT_CHECK(m.head_on == "fc" || m.head_on == "pool", "model: arch dlib-face has its head on '", m.head_on,
                "' (fc, the 128-d descriptor, or pool, the 256-d pooled features)");
    GRAFT_CHECK(m.vgg.input == 150, "model: arch dlib-face takes 150x150 chips, not input ", m.vgg.input);
    GRAFT_CHECK(m.trunk_norm == "affine" || m.trunk_norm == "batchnorm", "model: arch dlib-face has trunk_norm '",
                m.trunk_norm, "' (affine or batchnorm)");
    auto net = dlib_face_resnet<T, D>(m.head_on == "fc", m.trunk_norm == "batchnorm");
    net->fc("head", int64_t(m.classes.size()));
    return net;
  }
  return vgg16<T, D>(int64_t(m.classes.size()), m.vgg);
}

// Writes weights and description to `path` (.npz; temporary file, then rename).
template <class T, class D>
void save_model(const std::string& path, Network<T, D>& net, const ModelInfo& m) {
  io::WeightsDict w = weights_of(net.layers());
  std::vector<io::NamedArray> arrays;
  for (const auto& l : w.layers())
    for (const auto& p : l.params) arrays.push_back({l.name + "/" + p.name, p.array});
  const std::string text = m.str();
  io::Array meta(io::DType::u1, Shape{int64_t(text.size())});
  std::copy(text.begin(), text.end(), meta.data());
  arrays.push_back({"graft/meta", std::move(meta)});
  io::write_npz(path, arrays, io::Compression::stored);
}

// The metadata_props of an ONNX export of a model: "graft.model" (the description, read back
// by read_model_info) and what another consumer needs to feed it.
inline std::vector<std::pair<std::string, std::string>> onnx_metadata(const ModelInfo& m) {
  std::ostringstream c, mean, sd, scale, size;
  for (size_t i = 0; i < m.classes.size(); ++i) c << (i ? "," : "") << m.classes[i];
  mean.precision(9);
  sd.precision(9);
  scale.precision(9);
  mean << m.norm.mean[0] << "," << m.norm.mean[1] << "," << m.norm.mean[2];
  sd << m.norm.stddev[0] << "," << m.norm.stddev[1] << "," << m.norm.stddev[2];
  scale << m.norm.scale;
  size << m.input();
  const std::string order = m.norm.order == data::Normalization::Order::BGR ? "BGR" : "RGB";
  return {{"graft.model", m.str()},
          {"classes", c.str()},
          {"channel_order", order},
          {"scale", scale.str()},
          {"mean", mean.str()},
          {"std", sd.str()},
          {"input_size", size.str() + "x" + size.str()},
          {"resize", std::to_string(m.resize > 0 ? m.resize : int(m.input()))},
          {"preprocessing", "input[c] = (pixel[c] * scale - mean[c]) / std[c], 8-bit pixels with the channels in " +
                                order + " order, planar (N, 3, H, W), the shorter side resized to `resize`, then the "
                                "centre input_size crop; the output is the probabilities of `classes` in that order"}};
}

// Writes `net` as an ONNX file describing `m` (evaluation form, see nn/onnx_export.hpp).
template <class T, class D>
void save_model_onnx(const std::string& path, Network<T, D>& net, const ModelInfo& m, OnnxExportOptions o = {}) {
  o.metadata = onnx_metadata(m);
  save_onnx(net, path, o);
}

// The description inside a model file, or false when the file has none (a plain
// caffe-tensorflow .npy, an ONNX file graft did not write, say). An ONNX file's model is its
// own graph: arch "onnx" with `onnx` the file.
inline bool read_model_info(const std::string& path, ModelInfo& out) {
  if (io::is_onnx_path(path)) {
    const io::OnnxModel file = io::read_onnx(path);
    const std::string* text = file.meta("graft.model");
    if (!text) return false;
    out = ModelInfo::parse(*text, path + " (metadata graft.model)");
    out.arch = "onnx";
    out.onnx = std::filesystem::absolute(path).string();
    out.prototxt.clear();
    return true;
  }
  if (path.size() < 4 || path.compare(path.size() - 4, 4, ".npz") != 0) return false;
  for (const auto& a : io::read_npz(path)) {
    if (a.name != "graft/meta") continue;
    std::string text(reinterpret_cast<const char*>(a.array.data()), a.array.nbytes());
    out = ModelInfo::parse(text, path);
    return true;
  }
  return false;
}

// The weights of a file without its "graft/" entries (the description), for load_weights.
inline io::WeightsDict read_model_weights(const std::string& path) {
  io::WeightsDict all = io::read_weights(path), out;
  for (auto& l : all.release()) {
    if (l.name == "graft") continue;
    for (auto& p : l.params) out.add(l.name, p.name, std::move(p.array));
  }
  return out;
}

}  // namespace nn
}  // namespace graft
