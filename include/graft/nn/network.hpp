// Network<T, D>: a chain of named layers, built at run time, that owns its device context,
// its activations and its gradient buffers.
//
//   nn::Network<float> net(Shape{3, 224, 224});
//   net.conv("conv1_1", 64, 3, 1, 1).relu().max_pool("pool1", 2, 2) ... .fc("fc8", 2);
//
// Each builder call checks the new layer against the current shape at once, so a wrong
// architecture fails where it is written. Freezing works by layer name or range; backward
// stops at the lowest layer that learns and never touches what lies below it.
//
// Everything the network takes from and hands back to its caller is in the logical NCHW order:
// forward's input, output(), activation(i), backward's output gradient. In the CUDA backend's
// channels-last mode (context().set_channels_last(true)) 4-D activations are stored NHWC
// between the layers, so the network converts at these edges (Backend::to_stored /
// to_logical), into buffers of its own; 2-D tensors (fc layers, the logits) need nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/layers.hpp"

namespace graft {
namespace nn {

template <class T = float, class D = CPU>
class Network {
 public:
  using LayerT = Layer<T, D>;
  using TensorT = Tensor<T, D>;

  // `sample` is one input's shape without the batch dimension, e.g. (3, 224, 224).
  explicit Network(const Shape& sample) : sample_(sample) {
    GRAFT_CHECK(sample.rank() >= 1, "network: the sample shape needs at least one dimension");
    input1_ = with_batch(sample, 1, true);
    shape_ = input1_;
  }
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- building ----
  // Appends a layer: sets it up against the current output shape (throws on a mismatch).
  Network& add(std::unique_ptr<LayerT> layer) {
    GRAFT_CHECK(layer, "network: add() of a null layer");
    GRAFT_CHECK(index_of(layer->name()) < 0, "network: a layer named '", layer->name(),
                "' already exists");
    Shape out = layer->setup(shape_, ctx_);  // setup draws the parameters with seed 0
    if (seed_ != 0) layer->initialize(seed_);
    layer->set_training(training_);
    shapes_.push_back(out);
    shape_ = out;
    layers_.push_back(std::move(layer));
    backward_count_.push_back(0);
    return *this;
  }
  Network& conv(const std::string& name, int64_t out, int kernel, int stride = 1, int pad = 0) {
    return add(std::make_unique<Conv2d<T, D>>(name, 0, out, kernel, stride, pad));
  }
  Network& conv(const std::string& name, int64_t out, const Window2d& window) {
    return add(std::make_unique<Conv2d<T, D>>(name, 0, out, window));
  }
  Network& relu(std::string name = "") {
    return add(std::make_unique<ReLU<T, D>>(name.empty() ? derived_name("relu") : name));
  }
  Network& max_pool(const std::string& name, int kernel, int stride, int pad = 0,
                    bool ceil_mode = false) {
    return add(std::make_unique<MaxPool2d<T, D>>(name, kernel, stride, pad, ceil_mode));
  }
  Network& fc(const std::string& name, int64_t out) {
    return add(std::make_unique<Linear<T, D>>(name, 0, out));
  }
  Network& dropout(float p, std::string name = "") {
    return add(std::make_unique<Dropout<T, D>>(name.empty() ? derived_name("drop") : name, p,
                                               seed_));
  }
  Network& flatten(std::string name = "") {
    return add(std::make_unique<Flatten<T, D>>(name.empty() ? derived_name("flatten") : name));
  }

  // Seed of parameter initialisation and dropout masks; re-draws every parameter.
  void initialize(uint64_t seed) {
    seed_ = seed;
    for (auto& l : layers_) {
      l->initialize(seed);
      if (auto* d = dynamic_cast<Dropout<T, D>*>(l.get())) d->set_seed(seed);
    }
  }
  uint64_t seed() const { return seed_; }

  // ---- looking inside ----
  size_t size() const { return layers_.size(); }
  LayerT& layer(size_t i) { return *layers_.at(i); }
  const LayerT& layer(size_t i) const { return *layers_.at(i); }
  std::vector<LayerT*> layers() {
    std::vector<LayerT*> v;
    for (auto& l : layers_) v.push_back(l.get());
    return v;
  }
  int index_of(const std::string& name) const {
    for (size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i]->name() == name) return static_cast<int>(i);
    return -1;
  }
  LayerT& find(const std::string& name) { return *layers_[require(name)]; }
  const Shape& sample_shape() const { return sample_; }
  // Output shape of layer i for a batch of one (i = -1: the input).
  const Shape& shape_after(int i) const { return i < 0 ? input_shape1() : shapes_.at(size_t(i)); }
  const Shape& output_shape() const { return shape_; }
  Context<D>& context() { return ctx_; }

  struct NamedParam {
    std::string name;  // "conv1_1/weights"
    LayerT* layer;
    Param<T, D>* param;
  };
  std::vector<NamedParam> params(bool trainable_only = false) {
    std::vector<NamedParam> out;
    for (auto& l : layers_)
      for (auto* p : l->params())
        if (!trainable_only || p->trainable) out.push_back({l->name() + "/" + p->name, l.get(), p});
    return out;
  }
  int64_t parameter_count(bool trainable_only = false) {
    int64_t n = 0;
    for (auto& np : params(trainable_only)) n += np.param->value.size();
    return n;
  }

  // ---- freezing and learning rates ----
  void freeze_all() { set_trainable(0, size(), false); }
  void unfreeze_all() { set_trainable(0, size(), true); }
  void freeze(const std::string& name) { set_trainable(require(name), require(name) + 1, false); }
  void unfreeze(const std::string& name) { set_trainable(require(name), require(name) + 1, true); }
  // Layers from `name` to the top learn; everything below is frozen.
  void unfreeze_from(const std::string& name) {
    const size_t k = require(name);
    set_trainable(0, k, false);
    set_trainable(k, size(), true);
  }
  // Layers up to and including `name` are frozen; the rest keep their state.
  void freeze_through(const std::string& name) { set_trainable(0, require(name) + 1, false); }
  void set_lr_mult(const std::string& name, float weights_mult, float biases_mult) {
    for (auto* p : find(name).params()) p->lr_mult = p->name == "biases" ? biases_mult : weights_mult;
  }
  bool learns(const std::string& name) { return find(name).learns(); }
  // Index of the lowest layer with a trainable parameter, or -1 when nothing learns.
  int lowest_learning_layer() {
    for (size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i]->learns()) return static_cast<int>(i);
    return -1;
  }

  // ---- running ----
  void set_training(bool on) {
    training_ = on;
    for (auto& l : layers_) l->set_training(on);
  }
  bool training() const { return training_; }

  // Runs layers [from, end) on x, which is the input of layer `from` (the network's input
  // when from = 0); returns the last output. Activations are kept for backward.
  const TensorT& forward(const TensorT& x, size_t from = 0) {
    GRAFT_CHECK(!layers_.empty(), "network: forward() with no layers");
    GRAFT_CHECK(from < layers_.size(), "network: forward from layer ", from, " of ", layers_.size());
    const Shape& want = from == 0 ? input_shape1() : shapes_[from - 1];
    bool ok = x.shape().rank() == want.rank() && x.shape().rank() >= 1 && x.shape()[0] >= 1;
    for (int i = 1; ok && i < want.rank(); ++i) ok = x.shape()[i] == want[i];
    GRAFT_CHECK(ok, "network: input of ", layers_[from]->name(), " has shape ", x.shape().str(),
                ", expected ", with_batch(want, x.shape().rank() ? x.shape()[0] : 1).str());
    acts_.resize(layers_.size());
    input_ = &x;
    if (Backend<D>::stored_nhwc(ctx_, x.shape())) {  // channels-last mode: the layers take NHWC
      input_stored_.resize(x.shape());
      Backend<D>::to_stored(ctx_, x.shape(), x.data(), input_stored_.data());
      input_ = &input_stored_;
    }
    from_ = from;
    channels_last_ = stores_nhwc();
    for (size_t i = from; i < layers_.size(); ++i) layers_[i]->forward(in(i), acts_[i]);
    return output();
  }
  // The last forward's output, in the logical order.
  const TensorT& output() { return logical(acts_.back(), output_logical_); }
  // Output of layer i from the last forward, in the logical order. In channels-last mode a 4-D
  // activation is converted into a buffer that the next activation() call reuses.
  const TensorT& activation(size_t i) { return logical(acts_.at(i), activation_logical_); }

  // Backpropagates dL/d(output) from the last forward. Gradients are computed for every
  // trainable parameter; the input gradient only above the lowest learning layer, so no
  // work is done below it. Returns the number of layers whose backward ran.
  size_t backward(const TensorT& dout) {
    GRAFT_CHECK(input_, "network: backward() before forward()");
    GRAFT_CHECK(dout.shape() == acts_.back().shape(), "network: output gradient has shape ",
                dout.shape().str(), ", expected ", acts_.back().shape().str());
    GRAFT_CHECK(channels_last_ == stores_nhwc(),
                "network: backward() after the context's channels-last setting changed since forward()");
    const int low = lowest_learning_layer();
    if (low < 0 || static_cast<size_t>(low) < from_) {
      GRAFT_CHECK(low < 0, "network: layer ", layers_[low]->name(),
                  " learns but the last forward started above it, at ", layers_[from_]->name());
      return 0;
    }
    const TensorT* dy = &dout;
    if (Backend<D>::stored_nhwc(ctx_, dout.shape())) {  // the last layer gives and takes NHWC
      dout_stored_.resize(dout.shape());
      Backend<D>::to_stored(ctx_, dout.shape(), dout.data(), dout_stored_.data());
      dy = &dout_stored_;
    }
    size_t ran = 0;
    for (size_t i = layers_.size(); i-- > static_cast<size_t>(low);) {
      TensorT* dx = i > static_cast<size_t>(low) ? &grad_[i % 2] : nullptr;
      layers_[i]->backward(in(i), acts_[i], *dy, dx);
      ++backward_count_[i];
      ++ran;
      dy = dx;
    }
    return ran;
  }
  // How many times each layer's backward has run (to check pruning).
  const std::vector<uint64_t>& backward_counts() const { return backward_count_; }

  // ---- printing ----
  // A table like the caffe-tensorflow conversion log: type, name, output, parameters, state.
  std::string summary() {
    std::string s;
    char line[256];
    std::snprintf(line, sizeof line, "%-12s %-12s %-22s %12s  %s\n", "Type", "Name", "Output",
                  "Params", "Learns");
    s += line;
    std::snprintf(line, sizeof line, "%-12s %-12s %-22s %12s  %s\n", "Input", "input",
                  input_shape1().str().c_str(), "--", "");
    s += line;
    for (size_t i = 0; i < layers_.size(); ++i) {
      int64_t n = 0;
      for (auto* p : layers_[i]->params()) n += p->value.size();
      const bool has = !layers_[i]->params().empty();
      std::snprintf(line, sizeof line, "%-12s %-12s %-22s %12s  %s\n", layers_[i]->type(),
                    layers_[i]->name().c_str(), shapes_[i].str().c_str(),
                    has ? std::to_string(n).c_str() : "--",
                    has ? (layers_[i]->learns() ? "trainable" : "frozen") : "");
      s += line;
    }
    std::snprintf(line, sizeof line, "parameters: %lld, trainable: %lld\n",
                  static_cast<long long>(parameter_count()),
                  static_cast<long long>(parameter_count(true)));
    return s + line;
  }

 private:
  const TensorT& in(size_t i) const { return i == from_ ? *input_ : acts_[i - 1]; }
  // Whether the context stores 4-D activations NHWC (the CUDA backend's channels-last mode).
  bool stores_nhwc() const { return Backend<D>::stored_nhwc(ctx_, Shape{1, 1, 1, 1}); }
  // t itself when stored in the logical order, else its logical copy in buf.
  const TensorT& logical(const TensorT& t, TensorT& buf) {
    GRAFT_CHECK(channels_last_ == stores_nhwc(),
                "network: the context's channels-last setting changed since forward(); run forward() again");
    if (!Backend<D>::stored_nhwc(ctx_, t.shape())) return t;
    buf.resize(t.shape());
    Backend<D>::to_logical(ctx_, t.shape(), t.data(), buf.data());
    return buf;
  }
  const Shape& input_shape1() const { return input1_; }
  static Shape with_batch(const Shape& s, int64_t n, bool sample = false) {
    std::vector<int64_t> d{n};
    const int start = sample ? 0 : 1;
    for (int i = start; i < s.rank(); ++i) d.push_back(s[i]);
    return Shape(d);
  }
  size_t require(const std::string& name) const {
    const int i = index_of(name);
    if (i < 0) {
      std::string known;
      for (auto& l : layers_) known += (known.empty() ? "" : ", ") + l->name();
      GRAFT_FAIL("network: no layer named '", name, "' (layers: ", known, ")");
    }
    return static_cast<size_t>(i);
  }
  void set_trainable(size_t from, size_t to, bool on) {
    for (size_t i = from; i < to; ++i)
      for (auto* p : layers_[i]->params()) p->trainable = on;
  }
  // relu after conv1_1 -> relu1_1; after fc6 -> relu6; dropout after relu6 -> drop6 (the
  // numbered suffix of the layer below, as in Caffe's VGG); otherwise kind_<index>.
  std::string derived_name(const std::string& kind) const {
    if (!layers_.empty()) {
      const std::string& prev = layers_.back()->name();
      const size_t digit = prev.find_first_of("0123456789");
      if (digit != std::string::npos && digit > 0) {
        std::string candidate = kind + prev.substr(digit);
        if (index_of(candidate) < 0) return candidate;
      }
    }
    return kind + "_" + std::to_string(layers_.size());
  }

  Shape sample_;
  Shape input1_;  // the input for a batch of one
  Shape shape_;   // the current output shape, batch of one
  Context<D> ctx_;
  std::vector<std::unique_ptr<LayerT>> layers_;
  std::vector<Shape> shapes_;           // output shape of each layer, batch 1
  std::vector<TensorT> acts_;           // output of each layer, last forward
  TensorT grad_[2];                     // ping-pong buffers for the input gradients
  std::vector<uint64_t> backward_count_;
  const TensorT* input_ = nullptr;
  // channels-last mode: the input and the output gradient as the layers take them, and the
  // logical copies of 4-D outputs handed back
  TensorT input_stored_, dout_stored_, output_logical_, activation_logical_;
  bool channels_last_ = false;  // the context's layout at the last forward
  size_t from_ = 0;
  uint64_t seed_ = 0;
  bool training_ = false;
};

}  // namespace nn
}  // namespace graft
