// Loading a weights file into a chain of layers by name, and saving layers as one.
//
//   auto report = nn::load_weights(net.layers(), "VGG_FACE.npy", {{"fc8"}});
//   std::puts(report.str().c_str());
//   nn::save_weights(net.layers(), "gender.npy");   // or .npz
//
// A layer's entries in a file are its parameters and its buffers (BatchNorm's "mean" and
// "variance"). Files hold caffe-tensorflow layouts; each layer says how a parameter is laid
// out (Layer::file_layout) and loading converts it (graft/io/layout.hpp):
//   conv_hwio  HWIO -> OIHW (Conv2d "weights")
//   fc_in_out  (in, out) -> (out, in) (Linear "weights"); when the layer's input is spatial —
//              its input_shape() is (n, C, H, W), or it follows a layer that flattens one —
//              the file's rows are in H,W,C order and are permuted to graft's C,H,W.
//   same       (biases, buffers, everything else) must match the network's shape as it is.
// Rules: a layer listed in `skip` is left at its initial value; a layer or parameter the
// file has and the network lacks is an error unless `ignore_unmatched`; a shape mismatch is
// always an error naming the layer, the parameter and both shapes. Everything is checked
// before any parameter is written, so a failed load leaves the network as it was. Values are
// converted to the network's scalar type (float64 files into float networks; a value beyond
// float's range is an error). Copies go through copy_from_host, so CUDA layers load the same way.
// Files in graft's own layouts with other parameter names (torchvision's state_dicts) load
// through the same checks with LoadOptions::native_layout, rename and require_all.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/io/layout.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/weights.hpp"
#include "graft/layers/layer.hpp"

namespace graft {
namespace nn {

struct LoadOptions {
  std::vector<std::string> skip;  // layers left at their initial values, e.g. {"fc8"}
  bool ignore_unmatched = false;  // layers / parameters in the file but not in the network
  // Files that are not caffe-tensorflow's (a torchvision state_dict, see nn/weights_file.hpp):
  bool native_layout = false;   // the file holds graft's layouts (OIHW, (out, in)): no transforms
  bool require_all = false;     // a parameter or buffer of a layer not in `skip` that the file
                                // lacks is an error (instead of staying at its initial value)
  // The file's name of a layer's parameter, by layer type: {"BatchNorm2d": {{"weight", "scale"}}}
  // reads the file's "weight" into a BatchNorm2d's "scale". Types and names not listed are as
  // the file has them.
  std::map<std::string, std::map<std::string, std::string>> rename;
  std::set<std::string> ignore_params;  // file parameters never loaded ("num_batches_tracked")
  std::string separator = "/";          // between layer and parameter in the file's keys, for messages
};

struct LoadReport {
  std::vector<std::string> loaded;   // network parameters set from the file, "conv1_1/weights"
  std::vector<std::string> initial;  // network parameters left at their initial values
  std::vector<std::string> skipped;  // file arrays of layers in LoadOptions::skip
  std::vector<std::string> ignored;  // file arrays with no place in the network (ignore_unmatched)

  std::string str() const {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s.empty() ? std::string("none") : s;
    };
    return "loaded " + std::to_string(loaded.size()) + ": " + list(loaded) + "\nleft at initial values " +
           std::to_string(initial.size()) + ": " + list(initial) + "\nskipped from the file " +
           std::to_string(skipped.size()) + ": " + list(skipped) + "\nignored from the file " +
           std::to_string(ignored.size()) + ": " + list(ignored) + "\n";
  }
};

namespace detail {

// How a parameter's file layout maps to graft's.
struct ParamLayout {
  enum Kind { same, conv, fc } kind = same;
  int64_t c = 0, h = 1, w = 1;  // fc: the input features as C x H x W
  Shape file_shape;             // what the file must hold
  const char* file_layout = "";
  const char* graft_layout = "";
};

// The spatial shape (C, H, W) that a Linear flattens, or C = features, H = W = 1.
template <class T, class D>
void fc_input(const std::vector<Layer<T, D>*>& layers, size_t i, int64_t features, ParamLayout& out) {
  Shape in = layers[i]->input_shape();
  if (in.rank() == 2 && i > 0 && layers[i - 1]->flattens())
    in = layers[i - 1]->input_shape();
  if (in.rank() == 4) {
    out.c = in[1];
    out.h = in[2];
    out.w = in[3];
  } else if (in.rank() == 2) {
    out.c = in[1];
  } else {
    GRAFT_FAIL(layers[i]->name(), " (Linear): cannot tell the order in which its input of shape ", in.str(),
               " is flattened (expected (n, C, H, W) or (n, features))");
  }
  GRAFT_CHECK(out.c * out.h * out.w == features, layers[i]->name(), " (Linear): input ", in.str(), " has ",
              out.c * out.h * out.w, " features, its weights ", features);
}

// A layer's parameters and buffers: what a weights file holds for it.
template <class T, class D>
struct Entry {
  std::string name;
  Tensor<T, D>* tensor;
  FileLayout layout;
};
template <class T, class D>
std::vector<Entry<T, D>> entries_of(Layer<T, D>& l) {
  std::vector<Entry<T, D>> v;
  for (auto* p : l.params()) v.push_back({p->name, &p->value, l.file_layout(*p)});
  for (auto& b : l.buffers()) v.push_back({b.name, b.tensor, FileLayout::same});
  return v;
}

template <class T, class D>
ParamLayout layout_of(const std::vector<Layer<T, D>*>& layers, size_t i, const Entry<T, D>& p,
                      bool native = false) {
  ParamLayout l;
  const Shape& s = p.tensor->shape();
  if (native) {
    l.file_shape = s;
  } else if (p.layout == FileLayout::conv_hwio && s.rank() == 4) {
    l.kind = ParamLayout::conv;
    l.file_shape = Shape{s[2], s[3], s[1], s[0]};
    l.file_layout = "HWIO";
    l.graft_layout = "OIHW";
  } else if (p.layout == FileLayout::fc_in_out && s.rank() == 2) {
    l.kind = ParamLayout::fc;
    fc_input(layers, i, s[1], l);
    l.file_shape = Shape{s[1], s[0]};
    l.file_layout = l.h * l.w > 1 ? "(in, out), rows in H,W,C order" : "(in, out)";
    l.graft_layout = l.h * l.w > 1 ? "(out, in), columns in C,H,W order" : "(out, in)";
  } else {
    l.file_shape = s;
  }
  return l;
}

// Float targets only fail on float64 values beyond float's range: found before writing anything.
template <class T>
void check_range(const io::Array& a, const std::string& what) {
  if (!std::is_same<T, float>::value || a.dtype() != io::DType::f8) return;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double v = a.value(i);
    if (std::isfinite(v) && std::abs(v) > double(FLT_MAX))
      GRAFT_FAIL(what, ": element ", i, " (", v, ") is beyond float's range");
  }
}

// The layer's name for a file's parameter name, and back (LoadOptions::rename).
template <class T, class D>
std::string graft_name(const LoadOptions& o, const Layer<T, D>& l, const std::string& file_name) {
  auto t = o.rename.find(l.type());
  if (t == o.rename.end()) return file_name;
  auto n = t->second.find(file_name);
  return n == t->second.end() ? file_name : n->second;
}
template <class T, class D>
std::string file_name(const LoadOptions& o, const Layer<T, D>& l, const std::string& graft_name) {
  auto t = o.rename.find(l.type());
  if (t != o.rename.end())
    for (const auto& kv : t->second)
      if (kv.second == graft_name) return kv.first;
  return graft_name;
}

template <class T, class D>
std::string param_list(Layer<T, D>& l, const LoadOptions& o = {}) {
  std::string s;
  for (auto& e : entries_of(l)) s += (s.empty() ? "" : ", ") + file_name(o, l, e.name);
  return s.empty() ? "no parameters" : s;
}

}  // namespace detail

template <class T, class D>
LoadReport load_weights(const std::vector<Layer<T, D>*>& layers, const io::WeightsDict& w,
                        const LoadOptions& options = {}) {
  static_assert(std::is_floating_point<T>::value, "load_weights needs float or double layers");
  using io::quote;
  // The network's layers by name.
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < layers.size(); ++i) {
    GRAFT_CHECK(layers[i], "load_weights: layer ", i, " is null");
    GRAFT_CHECK(by_name.emplace(layers[i]->name(), i).second, "load_weights: two layers are named ",
                quote(layers[i]->name()));
  }
  const std::set<std::string> skip(options.skip.begin(), options.skip.end());
  for (const auto& s : skip)
    GRAFT_CHECK(by_name.count(s) || w.find(s), "load_weights: skip names ", quote(s),
                ", which is neither a layer of the network nor of the file");

  struct Planned {
    Tensor<T, D>* target;
    const io::Array* array;
    detail::ParamLayout layout;
    std::string name;
  };
  std::vector<Planned> plan;
  LoadReport report;
  std::set<const Tensor<T, D>*> planned;

  // Pass 1: match and check everything; nothing is written yet.
  for (const auto& fl : w.layers()) {
    auto it = by_name.find(fl.name);
    if (skip.count(fl.name)) {
      for (const auto& fp : fl.params) report.skipped.push_back(fl.name + "/" + fp.name);
      continue;
    }
    if (it == by_name.end()) {
      GRAFT_CHECK(options.ignore_unmatched, "load_weights: the file has layer ", quote(fl.name),
                  " but the network has no layer of that name (list it in LoadOptions::skip, or set ignore_unmatched)");
      for (const auto& fp : fl.params) report.ignored.push_back(fl.name + "/" + fp.name);
      continue;
    }
    Layer<T, D>& layer = *layers[it->second];
    for (const auto& fp : fl.params) {
      const std::string name = fl.name + options.separator + fp.name;
      if (options.ignore_params.count(fp.name)) {
        report.ignored.push_back(name);
        continue;
      }
      const std::string want_name = detail::graft_name(options, layer, fp.name);
      const auto entries = detail::entries_of(layer);
      const detail::Entry<T, D>* target = nullptr;
      for (const auto& e : entries)
        if (e.name == want_name) target = &e;
      if (!target) {
        GRAFT_CHECK(options.ignore_unmatched, "load_weights: the file has ", name, " but ", layer.name(), " (",
                    layer.type(), ") has ", detail::param_list(layer, options), " (set ignore_unmatched to ignore it)");
        report.ignored.push_back(name);
        continue;
      }
      GRAFT_CHECK(layer.is_setup(), "load_weights: ", layer.name(), " (", layer.type(),
                  ") is not set up; set the network up before loading weights");
      const detail::ParamLayout l = detail::layout_of(layers, it->second, *target, options.native_layout);
      const Shape& got = fp.array.shape();
      if (got != l.file_shape) {
        std::string want = l.file_shape.str();
        if (l.kind != detail::ParamLayout::same)
          want += std::string(" ") + l.file_layout + ", i.e. " + target->tensor->shape().str() + " " + l.graft_layout;
        GRAFT_FAIL("load_weights: shape mismatch for ", name, " (", layer.type(), "): the file has ", got.str(),
                   ", the network expects ", want);
      }
      detail::check_range<T>(fp.array, "load_weights: " + name);
      plan.push_back({target->tensor, &fp.array, l, name});
      planned.insert(target->tensor);
    }
  }
  for (auto* l : layers)
    for (auto& e : detail::entries_of(*l)) {
      if (planned.count(e.tensor)) continue;
      GRAFT_CHECK(!options.require_all || skip.count(l->name()), "load_weights: the file has no ",
                  l->name() + options.separator + detail::file_name(options, *l, e.name), " for ", l->name(), " (",
                  l->type(), ") ", e.name, " of shape ", e.tensor->shape().str());
      report.initial.push_back(l->name() + "/" + e.name);
    }

  // Pass 2: convert, transform, copy.
  for (const auto& p : plan) {
    Tensor<T> host = p.array->template to_tensor<T>(io::Cast::convert, p.name);
    if (p.layout.kind == detail::ParamLayout::conv)
      host = io::hwio_to_oihw(host);
    else if (p.layout.kind == detail::ParamLayout::fc)
      host = io::fc_hwc_to_chw(host, p.layout.c, p.layout.h, p.layout.w);
    copy_from_host(host, *p.target);
    report.loaded.push_back(p.name);
  }
  return report;
}

template <class T, class D>
LoadReport load_weights(const std::vector<Layer<T, D>*>& layers, const std::string& path,
                        const LoadOptions& options = {}, const io::ReadLimits& limits = {}) {
  const io::WeightsDict w = io::read_weights(path, limits);
  try {
    return load_weights(layers, w, options);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

// The layers' parameters and buffers in caffe-tensorflow layout (the inverse of
// load_weights' transforms).
template <class T, class D>
io::WeightsDict weights_of(const std::vector<Layer<T, D>*>& layers) {
  io::WeightsDict out;
  for (size_t i = 0; i < layers.size(); ++i) {
    GRAFT_CHECK(layers[i], "weights_of: layer ", i, " is null");
    for (const auto& p : detail::entries_of(*layers[i])) {
      Tensor<T> host;
      copy_to_host(*p.tensor, host);
      const detail::ParamLayout l = detail::layout_of(layers, i, p);
      if (l.kind == detail::ParamLayout::conv)
        host = io::oihw_to_hwio(host);
      else if (l.kind == detail::ParamLayout::fc)
        host = io::fc_chw_to_hwc(host, l.c, l.h, l.w);
      out.add(layers[i]->name(), p.name, io::Array::from_tensor(host));
    }
  }
  return out;
}

// Saves the layers' parameters: ".npz" as an npz of "layer/param", otherwise as a
// caffe-tensorflow .npy (np.load(path, allow_pickle=True).item() reads it back).
template <class T, class D>
void save_weights(const std::vector<Layer<T, D>*>& layers, const std::string& path,
                  io::WeightsFormat format = io::WeightsFormat::by_extension) {
  io::write_weights(path, weights_of(layers), format);
}

}  // namespace nn
}  // namespace graft
