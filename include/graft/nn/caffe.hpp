// Caffe models in graft: a network built from a deploy .prototxt, and the weights of a
// .caffemodel loaded into any network (or converted to a caffe-tensorflow / npz file), with
// neither Caffe nor Python.
//
//   auto net = nn::vgg_face();                       // or nn::caffe_network<float>("VGG_FACE_deploy.prototxt")
//   auto report = nn::load_caffe(net->layers(), "VGG_FACE.caffemodel", "VGG_FACE_deploy.prototxt", {{"fc8"}});
//   nn::convert_caffe("VGG_FACE.caffemodel", "VGG_FACE_deploy.prototxt", "VGG_FACE.npy");
//
// Layouts: Caffe's blobs are convolution OIHW and inner product (out, in) with the inputs in
// C,H,W order — graft's own layouts. caffe_weights() turns them into a WeightsDict in the
// caffe-tensorflow layout that graft's weights files use (conv HWIO, fc (in, out), and an
// inner product on a spatial input (fc6 on pool5) with its rows in H,W,C order); the shapes
// that needs come from the prototxt. load_caffe() then loads that dict with load_weights(),
// so a Caffe model is checked, skipped, reported and transformed exactly as a .npy is.
//
// A final Softmax in the prototxt is not built: the network outputs the logits, which
// SoftmaxCrossEntropy turns into probabilities (predict() for inference). Dropout layers are
// built (identity outside training) so that the network trains as Caffe's did.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"
#include "graft/io/caffemodel.hpp"
#include "graft/io/layout.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/prototxt.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/weights.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

// What one layer of a CaffeNet takes and gives, for a batch of one.
struct CaffeLayerShape {
  Shape in, out;
  Window2d window;         // Convolution and Pooling (global pooling resolved to the input size)
  Shape weights, biases;   // Convolution (O, I, kh, kw), InnerProduct (O, C*H*W); rank 0 when none
  int64_t c = 0, h = 1, w = 1;  // InnerProduct: its input features as C x H x W
};

namespace detail {

// Runs f(); a graft::Error gets "FILE:LINE: layer 'name' (Type): " in front.
template <class F>
auto at_layer(const io::CaffeNet& net, const io::CaffeNetLayer& l, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string where = net.where(l) + ": ";
    const std::string m = e.what();
    if (m.compare(0, where.size(), where) == 0) throw;
    throw Error(where + "layer " + io::quote(l.name) + " (" + l.type + "): " + m);
  }
}

// Runs f(); a graft::Error gets "FILE:LINE: " of the net's input in front.
template <class F>
void at_input(const io::CaffeNet& net, F f) {
  try {
    f();
  } catch (const Error& e) {
    throw Error(net.file + ":" + std::to_string(net.input_line) + ": " + e.what());
  }
}

}  // namespace detail

// The shape entering and leaving each layer of `net`, and its parameters' shapes. Refuses a
// layer whose input is too small for its window, and parameters or activations (per sample)
// beyond ReadLimits::max_array_bytes as float32: a prototxt is untrusted too.
inline std::vector<CaffeLayerShape> caffe_shapes(const io::CaffeNet& net, const io::ReadLimits& limits = {}) {
  std::vector<CaffeLayerShape> out;
  std::vector<int64_t> d = net.input_shape.dims();
  GRAFT_CHECK(d.size() >= 2, net.file, ":", net.input_line, ": the input needs a batch dimension and a sample shape");
  d[0] = 1;
  Shape s(d);
  const uint64_t max_elements = limits.max_array_bytes / 4;
  auto bounded = [&](const Shape& t, const char* what) {
    GRAFT_CHECK(uint64_t(t.numel()) <= max_elements, what, " ", t.str(), " would take more than ",
                limits.max_array_bytes, " bytes (ReadLimits::max_array_bytes)");
  };
  detail::at_input(net, [&] { bounded(s, "the input"); });
  for (const auto& l : net.layers) {
    CaffeLayerShape ls;
    ls.in = s;
    detail::at_layer(net, l, [&] {
      const std::string& t = l.type;
      if (t == "Convolution" || t == "Pooling") {
        GRAFT_CHECK(s.rank() == 4, "expected an input (n, channels, height, width), got ", s.str());
        Window2d& win = ls.window;
        win = Window2d{l.kernel_h, l.kernel_w, l.stride_h, l.stride_w, l.pad_h, l.pad_w, false};
        if (t == "Pooling") {
          win.ceil_mode = l.ceil_mode;
          if (l.global_pooling) {
            GRAFT_CHECK(s[2] <= (int64_t(1) << 16) && s[3] <= (int64_t(1) << 16), "global pooling over ", s[2], "x",
                        s[3], " is too large");
            win.kh = static_cast<int>(s[2]);
            win.kw = static_cast<int>(s[3]);
          }
        }
        const int64_t oh = win.out_h(s[2]), ow = win.out_w(s[3]);
        GRAFT_CHECK(oh > 0 && ow > 0, "input ", s[2], "x", s[3], " (padding ", win.ph, "x", win.pw,
                    ") is smaller than the ", win.kh, "x", win.kw, " window; input shape ", s.str());
        if (t == "Convolution") {
          ls.weights = Shape{l.num_output, s[1], win.kh, win.kw};
          if (l.bias_term) ls.biases = Shape{l.num_output};
          s = Shape{1, l.num_output, oh, ow};
        } else {
          s = Shape{1, s[1], oh, ow};
        }
      } else if (t == "InnerProduct") {
        const int64_t features = s.numel();
        if (s.rank() == 4) {
          ls.c = s[1];
          ls.h = s[2];
          ls.w = s[3];
        } else {
          GRAFT_CHECK(s.rank() == 2, "expected an input (n, features) or (n, channels, height, width), got ", s.str());
          ls.c = features;
        }
        ls.weights = Shape{l.num_output, features};
        if (l.bias_term) ls.biases = Shape{l.num_output};
        s = Shape{1, l.num_output};
      }
      if (ls.weights.rank()) bounded(ls.weights, "weights");
      bounded(s, "the output");
      return 0;
    });
    ls.out = s;
    out.push_back(ls);
  }
  return out;
}

// A graft network built from a deploy prototxt, with Caffe's layer names, initialised as any
// graft network is (load weights into it with load_caffe). A final Softmax is left out.
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> caffe_network(const io::CaffeNet& net, const io::ReadLimits& limits = {}) {
  const std::vector<CaffeLayerShape> shapes = caffe_shapes(net, limits);
  std::vector<int64_t> sample = net.input_shape.dims();
  sample.erase(sample.begin());
  auto out = std::make_unique<Network<T, D>>(Shape(sample));
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const io::CaffeNetLayer& l = net.layers[i];
    detail::at_layer(net, l, [&] {
      const std::string& t = l.type;
      if (t == "Convolution")
        out->add(std::make_unique<Conv2d<T, D>>(l.name, 0, l.num_output, shapes[i].window, l.bias_term));
      else if (t == "Pooling")
        out->add(std::make_unique<MaxPool2d<T, D>>(l.name, shapes[i].window));
      else if (t == "InnerProduct")
        out->add(std::make_unique<Linear<T, D>>(l.name, 0, l.num_output, l.bias_term));
      else if (t == "ReLU")
        out->add(std::make_unique<ReLU<T, D>>(l.name));
      else if (t == "Dropout")
        out->add(std::make_unique<Dropout<T, D>>(l.name, l.dropout_ratio, out->seed()));
      else if (t == "Softmax")
        GRAFT_CHECK(i + 1 == net.layers.size(), "a Softmax is built only as the last layer");
      else
        GRAFT_FAIL("graft cannot build this layer type");
      if (t != "Softmax")
        GRAFT_CHECK(out->output_shape() == Shape(shapes[i].out), "built with output ", out->output_shape().str(),
                    ", expected ", shapes[i].out.str());
      return 0;
    });
  }
  return out;
}

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> caffe_network(const std::string& prototxt, const io::ReadLimits& limits = {}) {
  return caffe_network<T, D>(io::read_prototxt(prototxt, limits), limits);
}

namespace detail {

// A blob's values as an array of `shape` (Caffe's legacy 4-d blobs carry leading ones), in the
// caffe-tensorflow layout `kind` asks for: 0 as it is, 1 conv OIHW -> HWIO, 2 fc (O, C*H*W) ->
// (H*W*C, O).
template <class V>
io::Array to_file_layout(const io::Array& blob, const Shape& shape, int kind, int64_t c, int64_t h, int64_t w) {
  Tensor<V> t(shape);
  if (blob.nbytes()) std::memcpy(t.data(), blob.data(), blob.nbytes());
  if (kind == 1) t = io::oihw_to_hwio(t);
  if (kind == 2) t = io::fc_chw_to_hwc(t, c, h, w);
  return io::Array::from_tensor(t);
}

}  // namespace detail

struct CaffeWeightsOptions {
  // Layers of the .caffemodel with blobs that the prototxt lacks are an error unless true.
  bool ignore_unmatched = false;
};

// The parameters of `net`'s Convolution and InnerProduct layers, from `model`, as a WeightsDict
// in caffe-tensorflow layout ("layer" -> "weights", "biases"), in the prototxt's order; what
// graft-convert writes and load_caffe loads. Each blob must have the shape the prototxt gives
// (Caffe's legacy leading ones aside) and keeps its type (float32, or float64). The model's
// blobs are released as they are converted.
inline io::WeightsDict caffe_weights(io::CaffeModel&& model, const io::CaffeNet& net,
                                     const CaffeWeightsOptions& options = {}, const io::ReadLimits& limits = {}) {
  using io::quote;
  const std::vector<CaffeLayerShape> shapes = caffe_shapes(net, limits);
  const std::string& file = model.file;
  std::set<std::string> with_blobs;
  for (const auto& ml : model.layers) {
    if (ml.blobs.empty()) continue;
    GRAFT_CHECK(with_blobs.insert(ml.name).second, file, ": offset ", ml.offset, ": a second layer named ",
                quote(ml.name), " with blobs");
    if (options.ignore_unmatched) continue;
    const io::CaffeNetLayer* l = net.find(ml.name);
    GRAFT_CHECK(l && l->has_params(), file, ": layer ", quote(ml.name), " (", ml.type, ") has ", ml.blobs.size(),
                " blobs, but ", net.file, " has no Convolution or InnerProduct layer of that name ",
                "(a prototxt for another net? CaffeWeightsOptions::ignore_unmatched leaves such layers out)");
  }
  io::WeightsDict out;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const io::CaffeNetLayer& l = net.layers[i];
    if (!l.has_params()) continue;
    const CaffeLayerShape& s = shapes[i];
    const std::string at = net.where(l);
    io::CaffeLayer* ml = nullptr;
    for (auto& cand : model.layers)
      if (cand.name == l.name && (!ml || (ml->blobs.empty() && !cand.blobs.empty()))) ml = &cand;
    GRAFT_CHECK(ml && !ml->blobs.empty(), file, ": has no blobs for layer ", quote(l.name), " (", l.type, ", ", at, ")");
    GRAFT_CHECK(ml->type == l.type, file, ": layer ", quote(l.name), " has type ", ml->type, " there, but ", l.type,
                " in ", at);
    const size_t want = l.bias_term ? 2 : 1;
    GRAFT_CHECK(ml->blobs.size() == want, file, ": layer ", quote(l.name), " has ", ml->blobs.size(), " blobs, but ",
                at, " gives it ", want, l.bias_term ? " (weights and biases)" : " (weights; bias_term is false)");
    const bool conv = l.type == "Convolution";
    for (size_t b = 0; b < want; ++b) {
      io::CaffeBlob& blob = ml->blobs[b];
      const Shape& expect = b == 0 ? s.weights : s.biases;
      const char* param = b == 0 ? "weights" : "biases";
      GRAFT_CHECK(same_but_leading_ones(blob.shape, expect) && blob.shape.numel() == expect.numel(), file,
                  ": offset ", blob.offset, ": layer ", quote(l.name), " blob ", b, " (", param, ") has shape ",
                  blob.shape.str(), ", but ", at, " needs ", expect.str(),
                  b == 0 ? (conv ? " (out, in, kh, kw)" : " (out, in)") : " (out,)");
      const int kind = b == 1 ? 0 : conv ? 1 : 2;
      io::Array a = blob.data.dtype() == io::DType::f8
                        ? detail::to_file_layout<double>(blob.data, expect, kind, s.c, s.h, s.w)
                        : detail::to_file_layout<float>(blob.data, expect, kind, s.c, s.h, s.w);
      blob.data = io::Array();  // release the blob's memory as soon as it is converted
      out.add(l.name, param, std::move(a));
    }
  }
  return out;
}

inline io::WeightsDict caffe_weights(const std::string& caffemodel, const std::string& prototxt,
                                     const CaffeWeightsOptions& options = {}, const io::ReadLimits& limits = {}) {
  const io::CaffeNet net = io::read_prototxt(prototxt, limits);
  return caffe_weights(io::read_caffemodel(caffemodel, limits), net, options, limits);
}

// Loads a .caffemodel into `layers` by name, as load_weights() loads a weights file (same
// options, checks and report; nothing is written unless everything fits). The prototxt is
// the model's deploy net, which gives the shapes the conversion needs; `layers` may be any
// network with those names, e.g. nn::vgg_face() with a new fc8 listed in options.skip.
template <class T, class D>
LoadReport load_caffe(const std::vector<Layer<T, D>*>& layers, const std::string& caffemodel,
                      const std::string& prototxt, const LoadOptions& options = {},
                      const io::ReadLimits& limits = {}) {
  CaffeWeightsOptions c;
  c.ignore_unmatched = options.ignore_unmatched;
  const io::WeightsDict w = caffe_weights(caffemodel, prototxt, c, limits);
  try {
    return load_weights(layers, w, options);
  } catch (const Error& e) {
    throw Error(caffemodel + ": " + e.what());
  }
}

// graft-convert: a .caffemodel and its deploy prototxt into a weights file, caffe-tensorflow's
// .npy dict or, for ".npz", graft's npz of "layer/param" arrays (same layouts; format as in
// io::write_weights). Returns the dict that was written.
inline io::WeightsDict convert_caffe(const std::string& caffemodel, const std::string& prototxt,
                                     const std::string& out,
                                     io::WeightsFormat format = io::WeightsFormat::by_extension,
                                     const CaffeWeightsOptions& options = {}, const io::ReadLimits& limits = {}) {
  io::WeightsDict w = caffe_weights(caffemodel, prototxt, options, limits);
  io::write_weights(out, w, format);
  return w;
}

}  // namespace nn
}  // namespace graft
