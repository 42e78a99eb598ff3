// The one place that decides how a weights file is loaded into a network, by what the file
// is. Every program loads weights through it.
//
//   nn::load_weights_file(net->layers(), "resnet18.npz");               // any kind below
//   nn::load_weights_file(net->layers(), "VGG_FACE.caffemodel", "VGG_FACE_deploy.prototxt", {{"fc8"}});
//
// Kinds, told apart by the file's name and keys (weights_kind()):
//   graft_model       an .npz with "graft/meta" (what graft's trainers write): "layer/param"
//                     arrays in caffe-tensorflow layouts, plus the description (model_file.hpp)
//   caffe_tensorflow  a caffe-tensorflow .npy (pickled dict) or an .npz of "layer/param"
//   caffe             a .caffemodel, with its deploy .prototxt for the shapes
//   torchvision       an .npz of a PyTorch state_dict as NumPy saved it,
//                       np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})
//                     keys "layer1.0.bn1.running_mean"; conv weights OIHW and fc (out, in),
//                     which are graft's own layouts, so nothing is transformed.
//   dlib              a dlib network file (.dat), dlib_face_recognition_resnet_model_v1.dat:
//                     loaded by nn::load_dlib_face into the network of arch dlib-face (its
//                     trunk; a task's head is left at its initial values)
//   onnx              an ONNX model (.onnx): the initializers its graph's nodes read, by node
//                     name (nn/onnx.hpp), in graft's own layouts; every parameter required
//
// A torchvision file is loaded by the same checks as the others (nn::load_weights): every
// shape is checked before anything is written; and since a state_dict is a whole model, a
// parameter or running statistic it lacks is an error too (not a value left at its
// initialisation), unless its layer is in LoadOptions::skip. Errors name the file and the key.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/npz.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/weights.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/onnx.hpp"

namespace graft {
namespace nn {

enum class WeightsKind { graft_model, caffe_tensorflow, caffe, torchvision, dlib, onnx };

inline const char* kind_name(WeightsKind k) {
  switch (k) {
    case WeightsKind::graft_model: return "graft model";
    case WeightsKind::caffe_tensorflow: return "caffe-tensorflow weights";
    case WeightsKind::caffe: return "Caffe model";
    case WeightsKind::torchvision: return "torchvision state_dict";
    case WeightsKind::dlib: return "dlib network";
    case WeightsKind::onnx: return "ONNX model";
  }
  return "?";
}

namespace detail {

inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The parameter and buffer names a torchvision module's state_dict uses.
inline bool torch_param_name(const std::string& p) {
  return p == "weight" || p == "bias" || p == "running_mean" || p == "running_var" || p == "num_batches_tracked";
}

// Whether an .npz's keys are a state_dict's: "module.path.param" with no '/' and a torch
// parameter name at the end. One such key decides, so that a bad key further on is reported
// as such rather than as "not layer/param".
inline bool torch_keys(const std::vector<io::NamedArray>& arrays) {
  for (const auto& a : arrays) {
    if (a.name.find('/') != std::string::npos) return false;
    const size_t dot = a.name.rfind('.');
    if (dot != std::string::npos && dot > 0 && torch_param_name(a.name.substr(dot + 1))) return true;
  }
  return false;
}

}  // namespace detail

// A dlib network file, by its name (dlib's serialisation has no magic number to read).
inline bool is_dlib_path(const std::string& path) { return detail::ends_with(path, ".dat"); }

// A weights file read and classified: its arrays as a WeightsDict (for a torchvision file,
// layer = the module path, param = torch's name) and, for a graft model, its description's
// text stays out of the dict.
struct WeightsFile {
  std::string path;
  WeightsKind kind = WeightsKind::caffe_tensorflow;
  io::WeightsDict dict;
};

// What kind of file `path` is, reading it when the name does not tell.
inline WeightsKind weights_kind(const std::string& path, const std::vector<io::NamedArray>* arrays = nullptr) {
  if (io::is_caffemodel_path(path)) return WeightsKind::caffe;
  if (is_dlib_path(path)) return WeightsKind::dlib;
  if (io::is_onnx_path(path)) return WeightsKind::onnx;
  if (!detail::ends_with(path, ".npz")) return WeightsKind::caffe_tensorflow;
  std::vector<io::NamedArray> read;
  if (!arrays) {
    read = io::read_npz(path);
    arrays = &read;
  }
  for (const auto& a : *arrays)
    if (a.name == "graft/meta") return WeightsKind::graft_model;
  return detail::torch_keys(*arrays) ? WeightsKind::torchvision : WeightsKind::caffe_tensorflow;
}

// Reads a weights file of any kind but Caffe's (which needs its prototxt: load_weights_file).
inline WeightsFile read_weights_file(const std::string& path, const io::ReadLimits& limits = {}) {
  GRAFT_CHECK(!io::is_caffemodel_path(path), path, ": a .caffemodel is read with its deploy prototxt");
  GRAFT_CHECK(!is_dlib_path(path), path, ": a dlib network is loaded by load_weights_file or nn::load_dlib_face");
  WeightsFile f;
  f.path = path;
  if (io::is_onnx_path(path)) {
    f.kind = WeightsKind::onnx;
    f.dict = onnx_weights(onnx_plan(io::read_onnx(path, limits)));
    return f;
  }
  if (!detail::ends_with(path, ".npz")) {
    f.dict = io::read_weights(path, limits);  // caffe-tensorflow .npy
    return f;
  }
  std::vector<io::NamedArray> arrays = io::read_npz(path, limits);
  f.kind = weights_kind(path, &arrays);
  for (auto& a : arrays) {
    if (f.kind == WeightsKind::graft_model && a.name.compare(0, 6, "graft/") == 0) continue;  // the description
    std::pair<std::string, std::string> lp;
    if (f.kind == WeightsKind::torchvision) {
      const size_t dot = a.name.rfind('.');
      GRAFT_CHECK(dot != std::string::npos && dot > 0 && dot + 1 < a.name.size(), path, ": array ",
                  io::quote(a.name), " is not named module.param, so it is not part of a state_dict");
      lp = {a.name.substr(0, dot), a.name.substr(dot + 1)};
    } else {
      lp = io::detail::split_key(path, a.name);
    }
    try {
      f.dict.add(lp.first, lp.second, std::move(a.array));
    } catch (const Error& e) {
      throw Error(path + ": " + e.what());
    }
  }
  return f;
}

// How a torchvision state_dict maps onto graft's layers.
inline LoadOptions torchvision_options(LoadOptions o) {
  o.native_layout = true;
  o.require_all = true;
  o.separator = ".";
  const std::map<std::string, std::string> conv{{"weight", "weights"}, {"bias", "biases"}};
  o.rename["Conv2d"] = conv;
  o.rename["Linear"] = conv;
  o.rename["BatchNorm2d"] = {{"weight", "scale"}, {"bias", "offset"}, {"running_mean", "mean"}, {"running_var", "variance"}};
  o.rename["Affine"] = {{"weight", "scale"}, {"bias", "offset"}};
  o.ignore_params.insert("num_batches_tracked");  // a step count, used only without momentum
  return o;
}

template <class T, class D>
LoadReport load_weights_file(const std::vector<Layer<T, D>*>& layers, const WeightsFile& f,
                             const LoadOptions& options = {}) {
  const LoadOptions o = f.kind == WeightsKind::torchvision ? torchvision_options(options)
                        : f.kind == WeightsKind::onnx      ? onnx_load_options(options)
                                                           : options;
  try {
    return load_weights(layers, f.dict, o);
  } catch (const Error& e) {
    throw Error(f.path + ": " + e.what());
  }
}

// Loads `path` of any kind; a .caffemodel needs `prototxt`.
template <class T, class D>
LoadReport load_weights_file(const std::vector<Layer<T, D>*>& layers, const std::string& path,
                             const std::string& prototxt = "", const LoadOptions& options = {},
                             const io::ReadLimits& limits = {}) {
  if (io::is_caffemodel_path(path)) {
    GRAFT_CHECK(!prototxt.empty(), path, ": a .caffemodel needs its deploy prototxt (for the shapes)");
    return load_caffe(layers, path, prototxt, options, limits);
  }
  if (is_dlib_path(path)) {
    LoadReport rep;
    load_dlib_face(layers, io::read_dlib(path, limits), &rep, options.skip);
    return rep;
  }
  return load_weights_file(layers, read_weights_file(path, limits), options);
}

}  // namespace nn
}  // namespace graft
