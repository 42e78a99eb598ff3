// ONNX models in graft: a network built from an .onnx file's graph, and its weights loaded by
// node name into that network or any other with those names (a new head, say).
//
//   io::OnnxModel m = io::read_onnx("arcface.onnx");
//   auto net = nn::onnx_network<float>(m);                  // the graph's node names
//   nn::load_onnx(net->layers(), m);                        // its initializers
//   auto gender = nn::onnx_network<float>(m, {2});          // the output layer resized to 2
//   nn::load_onnx(gender->layers(), m, {{"Gemm_47"}});      // ... and left out of the load
//
// The convolutional subset, opsets 9 to 17 (the default domain only), maps so:
//   Conv (group 1, dilation 1, symmetric padding)  -> Conv2d ("weights" OIHW, "biases")
//   Gemm (transA 0; alpha and beta folded in), MatMul by a constant (n, K) x (K, N)
//                                                  -> Linear ("weights" (out, in), "biases")
//   BatchNormalization (inference) -> BatchNorm2d (momentum 1 - ONNX's momentum)
//   Relu -> ReLU;  LeakyRelu -> LeakyRelu (alpha, default 0.01);  MaxPool -> MaxPool2d;
//   PRelu with a constant slope -> PRelu ("slope": (C) per channel from a slope (C, 1, 1),
//   (1, C, 1, 1), or (C), (1, C) of a 2-d input; (1) shared from a slope of ones' shape);
//   AveragePool -> AvgPool2d (count_include_pad);
//   GlobalAveragePool -> GlobalAvgPool2d;  Flatten (axis 1), Reshape to (N, -1) -> Flatten
//   Add of two tensors -> Add;  Add or Mul by a constant scalar or per-channel tensor -> Affine
//   (its other parameter fixed: Mul has no offset, an Add's scale is 1 with learning rate 0;
//   a Mul followed by an Add that alone reads it is one Affine, named as the Mul)
//   Pad with zeros at the end of the axes after the batch, read by an Add -> Add with zero_pad
//   (dlib's add_prev, as graft writes it)
//   Dropout -> Dropout (identity outside training);  Identity, Constant, initializers: no node
//   Softmax over the channels (axis 1 of (n, C), or of (n, C, H, W) from opset 13; before
//   opset 13 axis 1 of (n, C, H, W) flattens C, H, W, so only H = W = 1 is over the
//   channels) -> Softmax; but the graph's final Softmax (the graph's output) is left out:
//   the network outputs the logits, as a graft network does, and graft's trainers and
//   predict apply their own softmax (Caffe's final Softmax is treated so too).
// Any other operator, attribute value or domain is an error naming the file, the node, its op
// type and the opset. A graft node takes the ONNX node's name (or, for a nameless node, its
// first output's), so --scratch, --stages and freezing name the graph's nodes.
//
// The weights are the initializers (and Constant nodes) the graph's nodes read, in graft's
// own layouts (conv OIHW, fc (out, in)), loaded by load_weights with native_layout and
// require_all: every parameter a node needs comes from the file, unless its node is skipped.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
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
#include "graft/layers/layers.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/onnx_plan.hpp"

namespace graft {
namespace nn {

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> onnx_network(const OnnxPlan& plan) {
  auto net = std::make_unique<Network<T, D>>(plan.sample);
  for (const auto& p : plan.nodes) {
    try {
      std::unique_ptr<Layer<T, D>> l;
      switch (p.kind) {
        case OnnxPlanNode::conv: l = std::make_unique<Conv2d<T, D>>(p.name, 0, p.outputs, p.window, p.bias); break;
        case OnnxPlanNode::linear: l = std::make_unique<Linear<T, D>>(p.name, 0, p.outputs, p.bias); break;
        case OnnxPlanNode::relu: l = std::make_unique<ReLU<T, D>>(p.name); break;
        case OnnxPlanNode::max_pool: l = std::make_unique<MaxPool2d<T, D>>(p.name, p.window); break;
        case OnnxPlanNode::avg_pool: l = std::make_unique<AvgPool2d<T, D>>(p.name, p.window, p.count_pad); break;
        case OnnxPlanNode::global_avg_pool: l = std::make_unique<GlobalAvgPool2d<T, D>>(p.name); break;
        case OnnxPlanNode::batch_norm: l = std::make_unique<BatchNorm2d<T, D>>(p.name, 0, p.eps, p.momentum); break;
        case OnnxPlanNode::affine: l = std::make_unique<Affine<T, D>>(p.name, 0, p.bias); break;
        case OnnxPlanNode::add: l = std::make_unique<Add<T, D>>(p.name, p.bias); break;
        case OnnxPlanNode::dropout: l = std::make_unique<Dropout<T, D>>(p.name, p.p, net->seed()); break;
        case OnnxPlanNode::flatten: l = std::make_unique<Flatten<T, D>>(p.name); break;
        case OnnxPlanNode::leaky_relu: l = std::make_unique<LeakyRelu<T, D>>(p.name, p.alpha); break;
        case OnnxPlanNode::prelu: l = std::make_unique<PRelu<T, D>>(p.name, p.outputs); break;
        case OnnxPlanNode::softmax: l = std::make_unique<Softmax<T, D>>(p.name); break;
      }
      Layer<T, D>* raw = l.get();
      net->add(std::move(l), p.inputs);
      if (p.fixed_scale) {  // an Add of a constant: only the offset is the model's
        auto* scale = raw->params().at(0);
        scale->trainable = false;
        scale->lr_mult = 0.0f;
        scale->decay_mult = 0.0f;
      }
      GRAFT_CHECK(net->output_shape() == p.out, "built with output ", net->output_shape().str(), ", expected ",
                  p.out.str());
    } catch (const Error& e) {
      throw Error(plan.file + ": node " + io::quote(p.name) + " (" + p.op_type + "): " + e.what());
    }
  }
  return net;
}

template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> onnx_network(const io::OnnxModel& m, const OnnxBuildOptions& o = {}) {
  return onnx_network<T, D>(onnx_plan(m, o));
}
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> onnx_network(const std::string& path, const OnnxBuildOptions& o = {}) {
  return onnx_network<T, D>(io::read_onnx(path), o);
}

// How an ONNX file's weights load: graft's layouts, every parameter required.
inline LoadOptions onnx_load_options(LoadOptions o) {
  o.native_layout = true;
  o.require_all = true;
  return o;
}

// Loads an ONNX model's weights into `layers` by node name (the network of onnx_network, or
// any with those names and shapes), with load_weights' checks and report.
template <class T, class D>
LoadReport load_onnx(const std::vector<Layer<T, D>*>& layers, const io::OnnxModel& m, const LoadOptions& options = {}) {
  const io::WeightsDict w = onnx_weights(onnx_plan(m));
  try {
    return load_weights(layers, w, onnx_load_options(options));
  } catch (const Error& e) {
    throw Error(m.file + ": " + e.what());
  }
}
template <class T, class D>
LoadReport load_onnx(const std::vector<Layer<T, D>*>& layers, const std::string& path, const LoadOptions& options = {},
                     const io::ReadLimits& limits = {}) {
  return load_onnx(layers, io::read_onnx(path, limits), options);
}

}  // namespace nn
}  // namespace graft
