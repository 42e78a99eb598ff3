// Model files that describe themselves: the weights (caffe-tensorflow layout, keys
// "layer/param") plus "graft/meta", UTF-8 text of "key=value" lines holding the
// architecture, the class names, the input size and the preprocessing, so that evaluating
// or predicting needs no other flags. NumPy reads it as any .npz:
//   meta = bytes(np.load("model.npz")["graft/meta"]).decode()
#pragma once

#include <cstdio>
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
inline bool known_arch(const std::string& arch) {
  return arch == "vgg16" || arch == "vgg-face" || arch == "caffe" || arch == "dlib-face" || is_resnet(arch);
}
inline const char* known_archs() { return "vgg16, vgg-face, resnet18, resnet34, resnet50, caffe, dlib-face"; }

// The node a task's new classifier is (what --scratch and the first stage name by default).
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

// The description inside a model file, or false when the file has none (a plain
// caffe-tensorflow .npy, say).
inline bool read_model_info(const std::string& path, ModelInfo& out) {
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
