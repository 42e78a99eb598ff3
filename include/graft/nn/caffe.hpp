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
// Residual nets (ResNet-50's deploy shape) build as graphs: BatchNorm, Scale, Eltwise SUM and
// average pooling map to BatchNorm2d, Affine, Add and AvgPool2d (see caffe_network), and a
// BatchNorm's blobs become the buffers "mean" and "variance" (see caffe_weights).
//
// A final Softmax in the prototxt is not built: the network outputs the logits, which
// SoftmaxCrossEntropy turns into probabilities (predict() for inference). Dropout layers are
// built (identity outside training) so that the network trains as Caffe's did.
#pragma once

#include <cmath>
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
#include "graft/layers/add.hpp"
#include "graft/layers/affine.hpp"
#include "graft/layers/avg_pool2d.hpp"
#include "graft/layers/batch_norm2d.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

// What one layer of a CaffeNet takes and gives, for a batch of one.
struct CaffeLayerShape {
  Shape in, out;           // in: the first bottom's shape
  std::vector<Shape> ins;  // every bottom's shape, in order
  Window2d window;         // Convolution and Pooling (global pooling resolved to the input size)
  Shape weights, biases;   // Convolution (O, I, kh, kw), InnerProduct (O, C*H*W); rank 0 when none
  int64_t c = 0, h = 1, w = 1;  // InnerProduct: its input features as C x H x W
  int64_t channels = 0;    // BatchNorm, Scale: the input's channels (the length of each blob)
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
// layer whose input is too small for its window, bottoms of an Eltwise that differ, and
// parameters or activations (per sample) beyond ReadLimits::max_array_bytes as float32: a
// prototxt is untrusted too.
inline std::vector<CaffeLayerShape> caffe_shapes(const io::CaffeNet& net, const io::ReadLimits& limits = {}) {
  std::vector<CaffeLayerShape> out;
  std::vector<int64_t> d = net.input_shape.dims();
  GRAFT_CHECK(d.size() >= 2, net.file, ":", net.input_line, ": the input needs a batch dimension and a sample shape");
  d[0] = 1;
  const Shape input(d);
  const uint64_t max_elements = limits.max_array_bytes / 4;
  auto bounded = [&](const Shape& t, const char* what) {
    GRAFT_CHECK(uint64_t(t.numel()) <= max_elements, what, " ", t.str(), " would take more than ",
                limits.max_array_bytes, " bytes (ReadLimits::max_array_bytes)");
  };
  detail::at_input(net, [&] { bounded(input, "the input"); });
  for (const auto& l : net.layers) {
    CaffeLayerShape ls;
    for (int k : l.inputs) ls.ins.push_back(k < 0 ? input : out[size_t(k)].out);
    ls.in = ls.ins.at(0);
    Shape s = ls.in;
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
      } else if (t == "BatchNorm" || t == "Scale") {
        // graft's BatchNorm2d and Affine take (n, C, H, W): a factor per channel.
        GRAFT_CHECK(s.rank() == 4, "expected an input (n, channels, height, width), got ", s.str());
        ls.channels = s[1];
      } else if (t == "Eltwise") {
        for (size_t j = 1; j < ls.ins.size(); ++j)
          GRAFT_CHECK(ls.ins[j] == ls.ins[0], "bottom ", io::quote(l.bottoms[j]), " has shape ", ls.ins[j].str(),
                      ", but bottom ", io::quote(l.bottoms[0]), " has ", ls.ins[0].str(),
                      "; an Eltwise sums blobs of one shape");
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

namespace detail {

// The node an Eltwise SUM coefficient other than 1 is built as: an Affine in front of the
// sum, scaling bottom j by coeffs[j] (graft's Add adds its inputs as they are).
inline std::string coeff_node(const io::CaffeNetLayer& l, size_t j) { return l.name + "_coeff" + std::to_string(j); }
inline bool has_coeff(const io::CaffeNetLayer& l, size_t j) { return j < l.coeffs.size() && l.coeffs[j] != 1.0; }

// Parameters a Caffe net fixes (BatchNorm's identity affine part, Eltwise coefficients): frozen
// and with learning-rate and decay multipliers 0, so that unfreezing everything for a
// fine-tuning stage leaves them as Caffe has them.
template <class T, class D>
void fix_params(Layer<T, D>& layer) {
  for (auto* p : layer.params()) {
    p->trainable = false;
    p->lr_mult = 0.0f;
    p->decay_mult = 0.0f;
  }
}

template <class T, class D>
void fill(Tensor<T, D>& t, double v) {
  Tensor<T> h(t.shape());
  for (int64_t i = 0; i < h.size(); ++i) h[i] = T(v);
  copy_from_host(h, t);
}

}  // namespace detail

// A graft network built from a deploy prototxt, one node per Caffe layer with Caffe's layer
// names, initialised as any graft network is (load weights into it with load_caffe). A final
// Softmax is left out. Caffe layers map to graft layers so:
//   Convolution -> Conv2d, InnerProduct -> Linear, ReLU, Dropout, Pooling MAX -> MaxPool2d,
//   Pooling AVE -> AvgPool2d (count_pad: Caffe's divisor counts the padding), global AVE ->
//   GlobalAvgPool2d, Scale -> Affine ("scale", "offset" when bias_term), Eltwise SUM -> Add,
//   with a frozen Affine "<name>_coeff<j>" (scale = coeff) in front of each bottom whose coeff
//   is not 1;
//   BatchNorm -> BatchNorm2d whose own affine part is fixed at scale 1, offset 0 (frozen, lr
//   and decay multipliers 0), since Caffe's BatchNorm has none: the Scale after it is the
//   affine part. A BatchNorm2d, not an Affine folded from the statistics, so that fine-tuning
//   trains as Caffe would: batch statistics and running averages while training, unless the
//   prototxt sets use_global_stats: true (then the statistics are fixed, as in Caffe).
//   momentum = 1 - moving_average_fraction (Caffe's running averages are the same
//   exponential average, normalised by its accumulated factor).
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
      std::vector<std::string> ins;
      for (int k : l.inputs) ins.push_back(k < 0 ? std::string("input") : net.layers[size_t(k)].name);
      auto add = [&](std::unique_ptr<Layer<T, D>> layer) -> Layer<T, D>& {
        Layer<T, D>* p = layer.get();
        out->add(std::move(layer), ins);
        return *p;
      };
      if (t == "Convolution") {
        add(std::make_unique<Conv2d<T, D>>(l.name, 0, l.num_output, shapes[i].window, l.bias_term));
      } else if (t == "Pooling") {
        if (!l.average)
          add(std::make_unique<MaxPool2d<T, D>>(l.name, shapes[i].window));
        else if (l.global_pooling)
          add(std::make_unique<GlobalAvgPool2d<T, D>>(l.name));
        else
          add(std::make_unique<AvgPool2d<T, D>>(l.name, shapes[i].window, true));
      } else if (t == "InnerProduct") {
        add(std::make_unique<Linear<T, D>>(l.name, 0, l.num_output, l.bias_term));
      } else if (t == "ReLU") {
        add(std::make_unique<ReLU<T, D>>(l.name));
      } else if (t == "Dropout") {
        add(std::make_unique<Dropout<T, D>>(l.name, l.dropout_ratio, out->seed()));
      } else if (t == "BatchNorm") {
        auto bn = std::make_unique<BatchNorm2d<T, D>>(l.name, shapes[i].channels, l.eps, 1.0 - l.moving_average_fraction);
        if (l.use_global_stats_given) bn->set_use_global_stats(l.use_global_stats);
        detail::fix_params(add(std::move(bn)));
      } else if (t == "Scale") {
        add(std::make_unique<Affine<T, D>>(l.name, shapes[i].channels, l.bias_term));
      } else if (t == "Eltwise") {
        for (size_t j = 0; j < ins.size(); ++j) {
          if (!detail::has_coeff(l, j)) continue;
          const std::string node = detail::coeff_node(l, j);
          GRAFT_CHECK(!net.find(node), "the node for coeff ", j, ", ", io::quote(node),
                      ", would have the name of another layer of the net");
          out->add(std::make_unique<Affine<T, D>>(node, shapes[i].ins[j][1], false), {ins[j]});
          Layer<T, D>& a = out->find(node);
          detail::fix_params(a);
          detail::fill(a.params().at(0)->value, l.coeffs[j]);
          ins[j] = node;
        }
        add(std::make_unique<Add<T, D>>(l.name, false));
      } else if (t == "Softmax") {
        GRAFT_CHECK(i + 1 == net.layers.size(), "a Softmax is built only as the last layer");
      } else {
        GRAFT_FAIL("graft cannot build this layer type");
      }
      if (t != "Softmax")
        GRAFT_CHECK(out->output_shape() == Shape(shapes[i].out), "built with output ", out->output_shape().str(),
                    ", expected ", shapes[i].out.str());
      return 0;
    });
  }
  return out;
}

// `net` with its output layer (the last, or the one a final Softmax reads) giving `outputs`
// values: a new head for fine-tuning on another task (its weights then come from nowhere:
// list it in LoadOptions::skip). The output layer must be an InnerProduct or a Convolution.
inline io::CaffeNet with_outputs(io::CaffeNet net, int64_t outputs) {
  GRAFT_CHECK(outputs >= 1, net.file, ": a net needs at least one output, asked for ", outputs);
  GRAFT_CHECK(!net.layers.empty(), net.file, ": has no layers");
  const size_t i = net.layers.back().type == "Softmax" && net.layers.size() > 1 ? net.layers.size() - 2 : net.layers.size() - 1;
  io::CaffeNetLayer& l = net.layers[i];
  GRAFT_CHECK(l.type == "InnerProduct" || l.type == "Convolution", net.where(l), ": the output layer ", io::quote(l.name),
              " is a ", l.type, "; only an InnerProduct or Convolution output can be given ", outputs, " outputs");
  l.num_output = outputs;
  return net;
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

namespace detail {

// `n` values, each `f(i)`, as a 1-d array of `dtype` (float32 or float64, the blob's type).
template <class F>
io::Array array_of(io::DType dtype, int64_t n, F f) {
  io::Array a(dtype, Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    const double v = f(i);
    if (dtype == io::DType::f8) std::memcpy(a.data() + 8 * i, &v, 8);
    else {
      const float x = static_cast<float>(v);
      std::memcpy(a.data() + 4 * i, &x, 4);
    }
  }
  return a;
}

}  // namespace detail

// The parameters of `net`'s layers, from `model`, as a WeightsDict in caffe-tensorflow layout,
// in the prototxt's order; what graft-convert writes and load_caffe loads:
//   Convolution, InnerProduct  "weights" (HWIO; (in, out)), "biases"
//   BatchNorm   Caffe's blobs mean, variance and a scale factor (its running sums'
//               normaliser): "mean" = mean / factor, "variance" = variance / factor (0 when the
//               factor is 0, as Caffe does), and the BatchNorm2d's fixed "scale" 1, "offset" 0
//   Scale       "scale" and, with bias_term, "offset"
//   Eltwise     for each coeff other than 1, "<name>_coeff<j>" / "scale" (from the prototxt)
// Each blob must have the shape the prototxt gives (Caffe's legacy leading ones aside) and
// keeps its type (float32, or float64). The model's blobs are released as they are converted.
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
                " blobs, but ", net.file, " has no Convolution, InnerProduct, BatchNorm or Scale layer of that name ",
                "(a prototxt for another net? CaffeWeightsOptions::ignore_unmatched leaves such layers out)");
  }
  io::WeightsDict out;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const io::CaffeNetLayer& l = net.layers[i];
    const CaffeLayerShape& s = shapes[i];
    if (l.type == "Eltwise") {
      for (size_t j = 0; j < l.bottoms.size(); ++j)
        if (detail::has_coeff(l, j))
          out.add(detail::coeff_node(l, j), "scale",
                  detail::array_of(io::DType::f4, s.ins[j][1], [&](int64_t) { return l.coeffs[j]; }));
      continue;
    }
    if (!l.has_params()) continue;
    const std::string at = net.where(l);
    io::CaffeLayer* ml = nullptr;
    for (auto& cand : model.layers)
      if (cand.name == l.name && (!ml || (ml->blobs.empty() && !cand.blobs.empty()))) ml = &cand;
    GRAFT_CHECK(ml && !ml->blobs.empty(), file, ": has no blobs for layer ", quote(l.name), " (", l.type, ", ", at, ")");
    GRAFT_CHECK(ml->type == l.type, file, ": layer ", quote(l.name), " has type ", ml->type, " there, but ", l.type,
                " in ", at);
    const bool bn = l.type == "BatchNorm", scale = l.type == "Scale";
    const size_t want = bn ? 3 : l.bias_term ? 2 : 1;
    const char* what = bn ? " (mean, variance, scale factor)"
                       : scale ? (l.bias_term ? " (scale and bias)" : " (scale; bias_term is false)")
                               : (l.bias_term ? " (weights and biases)" : " (weights; bias_term is false)");
    GRAFT_CHECK(ml->blobs.size() == want, file, ": layer ", quote(l.name), " has ", ml->blobs.size(), " blobs, but ",
                at, " gives it ", want, what);
    // Each blob's expected shape and name.
    std::vector<Shape> expect;
    std::vector<const char*> names;
    if (bn) {
      expect = {Shape{s.channels}, Shape{s.channels}, Shape{1}};
      names = {"mean", "variance", "scale factor"};
    } else if (scale) {
      expect = {Shape{s.channels}, Shape{s.channels}};
      names = {"scale", "offset"};
    } else {
      expect = {s.weights, s.biases};
      names = {"weights", "biases"};
    }
    for (size_t b = 0; b < want; ++b) {
      const io::CaffeBlob& blob = ml->blobs[b];
      const char* how = bn || scale ? (b == 2 ? " (1,)" : " (channels,)")
                        : b == 0 ? (l.type == "Convolution" ? " (out, in, kh, kw)" : " (out, in)") : " (out,)";
      GRAFT_CHECK(same_but_leading_ones(blob.shape, expect[b]) && blob.shape.numel() == expect[b].numel(), file,
                  ": offset ", blob.offset, ": layer ", quote(l.name), " blob ", b, " (", names[b],
                  ") has shape ", blob.shape.str(), ", but ", at, " needs ", expect[b].str(), how);
    }
    if (bn) {
      // Caffe divides its running sums by the factor, and takes a factor of 0 as 0
      // (BatchNormLayer::Forward_cpu: scale_factor = factor == 0 ? 0 : 1 / factor).
      const io::Array &mean = ml->blobs[0].data, &var = ml->blobs[1].data;
      const double factor = ml->blobs[2].data.value(0);
      const double inv = factor == 0.0 ? 0.0 : 1.0 / factor;
      GRAFT_CHECK(std::isfinite(factor) && std::isfinite(inv), file, ": offset ", ml->blobs[2].offset, ": layer ",
                  quote(l.name), " (BatchNorm) has scale factor ", factor, ", which gives no finite statistics");
      const io::DType dt = mean.dtype();
      const int64_t c = s.channels;
      out.add(l.name, "scale", detail::array_of(dt, c, [](int64_t) { return 1.0; }));
      out.add(l.name, "offset", detail::array_of(dt, c, [](int64_t) { return 0.0; }));
      out.add(l.name, "mean", detail::array_of(dt, c, [&](int64_t k) { return mean.value(k) * inv; }));
      out.add(l.name, "variance", detail::array_of(var.dtype(), c, [&](int64_t k) { return var.value(k) * inv; }));
      for (auto& blob : ml->blobs) blob.data = io::Array();
      continue;
    }
    const bool conv = l.type == "Convolution";
    for (size_t b = 0; b < want; ++b) {
      io::CaffeBlob& blob = ml->blobs[b];
      const int kind = b == 1 || scale ? 0 : conv ? 1 : 2;
      io::Array a = blob.data.dtype() == io::DType::f8
                        ? detail::to_file_layout<double>(blob.data, expect[b], kind, s.c, s.h, s.w)
                        : detail::to_file_layout<float>(blob.data, expect[b], kind, s.c, s.h, s.w);
      blob.data = io::Array();  // release the blob's memory as soon as it is converted
      out.add(l.name, names[b], std::move(a));
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
