// Network<T, D>: a graph of named nodes, built at run time, that owns its device context,
// its activations and its gradient buffers. A node is a layer plus the nodes it reads.
//
//   nn::Network<float> net(Shape{3, 224, 224});
//   net.conv("conv1_1", 64, 3, 1, 1).relu().max_pool("pool1", 2, 2) ... .fc("fc8", 2);
//
// The chain builder reads the node before; from(name) moves that cursor, and add(layer,
// {"a", "b"}) names a node's inputs ("input" is the network's input):
//
//   net.from("pool1").conv("branch1", 64, 1).add(std::make_unique<Add<float>>("res2a"),
//                                                   {"branch1", "branch2b"}).relu();
//
// Each builder call checks the new node against its inputs' shapes at once, so a wrong
// architecture fails where it is written, naming the node. Nodes are kept in the order they
// were added, which is a topological order (a node reads only nodes added before it). The
// last node added is the network's output.
//
// Backward runs in reverse order. A tensor read by several nodes gets its gradient summed:
// the first reader's backward writes it, later ones write into a scratch tensor that is
// added in. Backward runs only on nodes at or above a learning node (a node whose inputs
// lead to nothing that learns gets no input gradient), so no work is done below the lowest
// learning node. Freezing works by node name or by range in node order.
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
#include <deque>
#include <functional>
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
  static constexpr int kInput = -1;  // the node index of the network's input

  // `sample` is one input's shape without the batch dimension, e.g. (3, 224, 224).
  explicit Network(const Shape& sample) : sample_(sample) {
    GRAFT_CHECK(sample.rank() >= 1, "network: the sample shape needs at least one dimension");
    input1_ = with_batch(sample, 1, true);
  }
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- building ----
  // Appends a node reading the cursor (the node added last, or the one named by from()).
  Network& add(std::unique_ptr<LayerT> layer) { return add_node(std::move(layer), {cursor_}); }
  // Appends a node reading the named nodes ("input": the network's input), in this order.
  Network& add(std::unique_ptr<LayerT> layer, const std::vector<std::string>& inputs) {
    GRAFT_CHECK(layer, "network: add() of a null layer");
    GRAFT_CHECK(!inputs.empty(), "network: node '", layer->name(), "' names no input");
    std::vector<int> idx;
    for (const auto& n : inputs) {
      GRAFT_CHECK(n != layer->name(), "network: node '", n, "' reads itself (a cycle)");
      const int i = n == "input" ? kInput : index_of(n);
      GRAFT_CHECK(n == "input" || i >= 0, "network: node '", layer->name(), "' reads '", n,
                  "', which is not a node added before it (nodes: ", node_list(), ")");
      idx.push_back(i);
    }
    return add_node(std::move(layer), idx);
  }
  // The next chain call reads this node ("input": the network's input).
  Network& from(const std::string& name) {
    cursor_ = name == "input" ? kInput : int(require(name));
    return *this;
  }
  // The node the next chain call reads (kInput: the network's input); block builders such as
  // nn::basic_block start from it.
  int cursor() const { return cursor_; }
  Network& conv(const std::string& name, int64_t out, int kernel, int stride = 1, int pad = 0,
                bool bias = true) {
    return add(std::make_unique<Conv2d<T, D>>(name, 0, out, kernel, stride, pad, bias));
  }
  Network& conv(const std::string& name, int64_t out, const Window2d& window, bool bias = true) {
    return add(std::make_unique<Conv2d<T, D>>(name, 0, out, window, bias));
  }
  Network& relu(std::string name = "") {
    return add(std::make_unique<ReLU<T, D>>(name.empty() ? derived_name("relu") : name));
  }
  // x > 0 ? x : alpha * x (torch.nn.LeakyReLU).
  Network& leaky_relu(double alpha = 0.01, std::string name = "") {
    return add(std::make_unique<LeakyRelu<T, D>>(name.empty() ? derived_name("leaky_relu") : name, alpha));
  }
  // LeakyRelu with a learnt slope "slope" (torch.nn.PReLU): slopes 0, one per channel of the
  // cursor's output; 1, one shared by all; C, one per channel of an input that has C.
  Network& prelu(int64_t slopes = 0, std::string name = "") {
    return add(std::make_unique<PRelu<T, D>>(name.empty() ? derived_name("prelu") : name, slopes));
  }
  // Softmax over the channels (axis 1) as a node of the network, not the loss's softmax.
  Network& softmax(std::string name = "") {
    return add(std::make_unique<Softmax<T, D>>(name.empty() ? derived_name("softmax") : name));
  }
  Network& max_pool(const std::string& name, int kernel, int stride, int pad = 0,
                    bool ceil_mode = false) {
    return add(std::make_unique<MaxPool2d<T, D>>(name, kernel, stride, pad, ceil_mode));
  }
  Network& fc(const std::string& name, int64_t out, bool bias = true) {
    return add(std::make_unique<Linear<T, D>>(name, 0, out, bias));
  }
  Network& dropout(float p, std::string name = "") {
    return add(std::make_unique<Dropout<T, D>>(name.empty() ? derived_name("drop") : name, p,
                                               seed_));
  }
  Network& flatten(std::string name = "") {
    return add(std::make_unique<Flatten<T, D>>(name.empty() ? derived_name("flatten") : name));
  }
  // Batch normalisation over the channels of the cursor's output (BatchNorm2d: torch's
  // semantics; buffers "mean" and "variance").
  Network& batch_norm(const std::string& name, double eps = 1e-5, double momentum = 0.1) {
    return add(std::make_unique<BatchNorm2d<T, D>>(name, 0, eps, momentum));
  }
  // Per-channel x * scale + offset (Caffe's Scale; offset = false: without bias_term).
  Network& affine(const std::string& name, bool offset = true) {
    return add(std::make_unique<Affine<T, D>>(name, 0, offset));
  }
  Network& avg_pool(const std::string& name, int kernel, int stride, int pad = 0, bool ceil_mode = false,
                    bool count_pad = true) {
    return add(std::make_unique<AvgPool2d<T, D>>(name, kernel, stride, pad, ceil_mode, count_pad));
  }
  Network& global_avg_pool(const std::string& name) { return add(std::make_unique<GlobalAvgPool2d<T, D>>(name)); }
  // An Add node reading the named nodes (a residual sum); zero_pad: see layers/add.hpp.
  Network& sum(const std::string& name, const std::vector<std::string>& inputs, bool zero_pad = false) {
    return add(std::make_unique<Add<T, D>>(name, zero_pad), inputs);
  }

  // Seed of parameter initialisation and random streams (dropout); re-draws every parameter.
  void initialize(uint64_t seed) {
    seed_ = seed;
    for (auto& n : nodes_) n.layer->initialize(seed);
  }
  uint64_t seed() const { return seed_; }

  // ---- fusion ----
  // ReLU into a neighbour that applies it in a pass it makes anyway (on = false: undone), the
  // same values bit for bit, one pass over memory and one activation buffer fewer per pair:
  //  - into the layer below (epilogue): where a ReLU node reads a node that nothing else reads
  //    and that can apply ReLU itself (Conv2d: in its bias pass), that node now writes
  //    max(., 0) and the ReLU passes its input through as a view. activation() of such a
  //    convolution node then gives the rectified values; a forward that starts at the ReLU (a
  //    cut: the feature cache) applies it as usual.
  //  - else into the layer above (prologue): where the ReLU's output is read by one node alone
  //    and that node can rectify its input (Dropout: max(x, 0) under its mask), it does, and
  //    the ReLU passes its input through while that reader's forward is not deterministic
  //    (dropout while training). activation() of the ReLU then holds its unrectified input;
  //    in evaluation the ReLU computes as usual.
  // Backward is unchanged in both (the convolution never reads its output; the ReLU masks
  // with its output, whose sign is its input's). Returns the number of pairs fused. Call
  // after building, before a forward.
  size_t fuse_relu(bool on = true) {
    size_t count = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& r = nodes_[i];
      if (!r.layer->rectifies() || r.inputs.size() != 1 || r.inputs[0] < 0) continue;
      const int j = r.inputs[0];
      if (!on) {
        if (r.relu_fused) nodes_[size_t(j)].layer->fuse_relu_epilogue(false);
        if (r.relu_reader >= 0) nodes_[size_t(r.relu_reader)].layer->fuse_relu_prologue(false);
        r.relu_fused = false;
        r.relu_reader = -1;
        r.layer->set_pass_through(false);
        continue;
      }
      if (r.relu_fused || r.relu_reader >= 0) continue;
      if (readers_of(j).size() == 1 && nodes_[size_t(j)].layer->fuse_relu_epilogue(true)) {
        r.relu_fused = true;
        ++count;
        continue;
      }
      const std::vector<size_t> above = readers_of(int(i));
      if (above.size() == 1 && nodes_[above[0]].inputs.size() == 1 &&
          nodes_[above[0]].layer->fuse_relu_prologue(true)) {
        r.relu_reader = int(above[0]);
        ++count;
      }
    }
    return count;
  }
  // Whether node i is a ReLU fused into a node next to it (the one it reads, or its reader).
  bool relu_fused(size_t i) const { return nodes_.at(i).relu_fused || nodes_.at(i).relu_reader >= 0; }

  // ---- looking inside ----
  size_t size() const { return nodes_.size(); }
  LayerT& layer(size_t i) { return *nodes_.at(i).layer; }
  const LayerT& layer(size_t i) const { return *nodes_.at(i).layer; }
  std::vector<LayerT*> layers() {
    std::vector<LayerT*> v;
    for (auto& n : nodes_) v.push_back(n.layer.get());
    return v;
  }
  // The nodes node i reads (kInput: the network's input), in order.
  const std::vector<int>& inputs_of(size_t i) const { return nodes_.at(i).inputs; }
  // Whether every node reads the node before it and nothing else (a plain chain).
  bool is_chain() const {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].inputs.size() != 1 || nodes_[i].inputs[0] != int(i) - 1) return false;
    return true;
  }
  int index_of(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].layer->name() == name) return static_cast<int>(i);
    return -1;
  }
  LayerT& find(const std::string& name) { return *nodes_[require(name)].layer; }
  const Shape& sample_shape() const { return sample_; }
  // Output shape of node i for a batch of one (i = -1: the input).
  const Shape& shape_after(int i) const { return i < 0 ? input1_ : nodes_.at(size_t(i)).shape; }
  const Shape& output_shape() const { return nodes_.empty() ? input1_ : nodes_.back().shape; }
  Context<D>& context() { return ctx_; }

  // Whether the output of node from - 1 (the input when from = 0) separates the nodes below
  // it from those at and above `from`: no node from `from` on reads anything older. A
  // forward may start there, given that tensor.
  bool is_cut(size_t from) const {
    if (from == 0) return true;
    if (from >= nodes_.size()) return false;
    for (size_t j = from; j < nodes_.size(); ++j)
      for (int k : nodes_[j].inputs)
        if (k < int(from) - 1) return false;
    return true;
  }

  struct NamedParam {
    std::string name;  // "conv1_1/weights"
    LayerT* layer;
    Param<T, D>* param;
  };
  std::vector<NamedParam> params(bool trainable_only = false) {
    std::vector<NamedParam> out;
    for (auto& n : nodes_)
      for (auto* p : n.layer->params())
        if (!trainable_only || p->trainable)
          out.push_back({n.layer->name() + "/" + p->name, n.layer.get(), p});
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
  // Nodes from `name` on (in node order) learn; everything before it is frozen.
  void unfreeze_from(const std::string& name) {
    const size_t k = require(name);
    set_trainable(0, k, false);
    set_trainable(k, size(), true);
  }
  // Nodes up to and including `name` are frozen; the rest keep their state.
  void freeze_through(const std::string& name) { set_trainable(0, require(name) + 1, false); }
  // Scales the learning rate of the node's "weights" (and any other parameter: Affine's and
  // BatchNorm2d's "scale") and "biases" (and "offset", the per-channel layers' bias).
  void set_lr_mult(const std::string& name, float weights_mult, float biases_mult) {
    for (auto* p : find(name).params())
      p->lr_mult = p->name == "biases" || p->name == "offset" ? biases_mult : weights_mult;
  }
  bool learns(const std::string& name) { return find(name).learns(); }
  // Index of the lowest node with a trainable parameter, or -1 when nothing learns.
  int lowest_learning_layer() {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].layer->learns()) return static_cast<int>(i);
    return -1;
  }

  // ---- running ----
  void set_training(bool on) {
    training_ = on;
    for (auto& n : nodes_) n.layer->set_training(on);
  }
  bool training() const { return training_; }

  // Runs nodes [from, end) given x, the output of node from - 1 (the network's input when
  // from = 0; from must be a cut, see is_cut); returns the output. Activations are kept for
  // backward.
  const TensorT& forward(const TensorT& x, size_t from = 0) {
    GRAFT_CHECK(!nodes_.empty(), "network: forward() with no layers");
    GRAFT_CHECK(from < nodes_.size(), "network: forward from node ", from, " of ", nodes_.size());
    GRAFT_CHECK(is_cut(from), "network: forward cannot start at ", nodes_[from].layer->name(),
                ": a node from there on reads a node below ", nodes_[from - 1].layer->name());
    const Shape& want = from == 0 ? input1_ : nodes_[from - 1].shape;
    bool ok = x.shape().rank() == want.rank() && x.shape().rank() >= 1 && x.shape()[0] >= 1;
    for (int i = 1; ok && i < want.rank(); ++i) ok = x.shape()[i] == want[i];
    GRAFT_CHECK(ok, "network: input of ", nodes_[from].layer->name(), " has shape ", x.shape().str(),
                ", expected ", with_batch(want, x.shape().rank() ? x.shape()[0] : 1).str());
    acts_.resize(nodes_.size());
    input_ = &x;
    if (Backend<D>::stored_nhwc(ctx_, x.shape())) {  // channels-last mode: the layers take NHWC
      input_stored_.resize(x.shape());
      Backend<D>::to_stored(ctx_, x.shape(), x.data(), input_stored_.data());
      input_ = &input_stored_;
    }
    from_ = from;
    channels_last_ = stores_nhwc();
    for (size_t i = from; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (n.relu_fused) n.layer->set_pass_through(i != from);  // (from a cut: x is anyone's)
      if (n.relu_reader >= 0) {  // pass through where the reader masks: else compute (activation())
        const LayerT& above = *nodes_[size_t(n.relu_reader)].layer;
        n.layer->set_pass_through(above.training() && !above.deterministic());
      }
      if (n.inputs.size() == 1) {
        n.layer->forward(in(n.inputs[0]), acts_[i]);
      } else {
        gather_inputs(n);
        n.layer->forward_multi(xs_, acts_[i]);
      }
    }
    return output();
  }
  // The last forward's output, in the logical order.
  const TensorT& output() { return logical(acts_.back(), output_logical_); }
  // Output of node i from the last forward, in the logical order. In channels-last mode a 4-D
  // activation is converted into a buffer that the next activation() call reuses.
  const TensorT& activation(size_t i) { return logical(acts_.at(i), activation_logical_); }

  // Backpropagates dL/d(output) from the last forward. Gradients are computed for every
  // trainable parameter; input gradients only where a learning node lies below, so no work
  // is done below the lowest learning node. Returns the number of nodes whose backward ran.
  size_t backward(const TensorT& dout) {
    GRAFT_CHECK(input_, "network: backward() before forward()");
    GRAFT_CHECK(dout.shape() == acts_.back().shape(), "network: output gradient has shape ",
                dout.shape().str(), ", expected ", acts_.back().shape().str());
    GRAFT_CHECK(channels_last_ == stores_nhwc(),
                "network: backward() after the context's channels-last setting changed since forward()");
    const size_t count = nodes_.size();
    // wants[i]: node i or a node it reads (transitively) learns, so it needs dL/d(output i).
    wants_.assign(count, 0);
    bool any = false;
    for (size_t i = 0; i < count; ++i) {
      const Node& n = nodes_[i];
      bool w = n.layer->learns();
      for (int k : n.inputs) w = w || (k >= 0 && wants_[size_t(k)]);
      wants_[i] = w;
      if (w && i < from_) {
        GRAFT_FAIL("network: layer ", n.layer->name(), " learns but the last forward started above it, at ",
                   nodes_[from_].layer->name());
      }
      any = any || w;
    }
    if (!any) return 0;
    const TensorT* dlast = &dout;
    if (Backend<D>::stored_nhwc(ctx_, dout.shape())) {  // the last layer gives and takes NHWC
      dout_stored_.resize(dout.shape());
      Backend<D>::to_stored(ctx_, dout.shape(), dout.data(), dout_stored_.data());
      dlast = &dout_stored_;
    }
    slot_.assign(count, -1);
    free_.clear();
    for (int s = int(grads_.size()); s-- > 0;) free_.push_back(s);
    size_t ran = 0;
    for (size_t i = count; i-- > from_;) {
      if (!wants_[i]) continue;
      Node& n = nodes_[i];
      const TensorT* dy = dlast;
      if (i + 1 != count) {
        if (slot_[i] < 0) {  // nothing above reads this node: its gradient is zero
          slot_[i] = take_slot();
          grads_[size_t(slot_[i])].resize(acts_[i].shape());
          grads_[size_t(slot_[i])].zero();
        }
        dy = &grads_[size_t(slot_[i])];
      }
      // Where each input's gradient goes: its own buffer when this is its first reader, a
      // scratch tensor (added in afterwards) otherwise.
      dxs_.assign(n.inputs.size(), nullptr);
      adds_.assign(n.inputs.size(), -1);
      if (scratch_.size() < n.inputs.size()) scratch_.resize(n.inputs.size());
      for (size_t j = 0; j < n.inputs.size(); ++j) {
        const int k = n.inputs[j];
        if (k < 0 || size_t(k) < from_ || !wants_[size_t(k)]) continue;
        if (slot_[size_t(k)] < 0) {
          slot_[size_t(k)] = take_slot();
          dxs_[j] = &grads_[size_t(slot_[size_t(k)])];
        } else {
          dxs_[j] = &scratch_[j];
          adds_[j] = slot_[size_t(k)];
        }
      }
      if (n.inputs.size() == 1) {
        n.layer->backward(in(n.inputs[0]), acts_[i], *dy, dxs_[0]);
      } else {
        gather_inputs(n);
        n.layer->backward_multi(xs_, acts_[i], *dy, dxs_);
      }
      for (size_t j = 0; j < n.inputs.size(); ++j)
        if (adds_[j] >= 0) {
          TensorT& into = grads_[size_t(adds_[j])];
          GRAFT_CHECK(into.shape() == dxs_[j]->shape(), "network: ", n.layer->name(), " wrote a gradient of shape ",
                      dxs_[j]->shape().str(), " for its input ", j, ", expected ", into.shape().str());
          Backend<D>::accumulate(ctx_, into.size(), dxs_[j]->data(), into.data());
        }
      if (i + 1 != count) free_.push_back(slot_[i]);  // this node's gradient is used up
      ++backward_count_[i];
      ++ran;
      if (backward_hook_) backward_hook_(i);
    }
    return ran;
  }
  // ---- synchronised batch statistics (data parallel; graft/dist/batchnorm_sync.hpp) ----
  // Hands `r` to every layer that takes one (BatchNorm2d: Layer::set_stats_reducer), so that
  // their training statistics are those of every rank's samples; null: each rank's own share
  // (the default). Returns how many layers took it. Layers added later do not get it.
  size_t set_batchnorm_sync(StatsReducer* r) {
    size_t took = 0;
    for (auto& n : nodes_) took += n.layer->set_stats_reducer(r) ? 1 : 0;
    stats_sync_ = r != nullptr && took > 0;
    return took;
  }
  // Whether some layer sums its statistics across ranks.
  bool batchnorm_synced() const { return stats_sync_; }
  // For a rank whose share of a batch is empty, in place of forward and backward: every layer
  // joins, with nothing of its own, the sums its forward would make (in node order), then
  // those its backward would (in backward's order, over the nodes backward would run, each
  // told whether its input gradient would be wanted), calling the backward hook after each
  // node as backward does, so that the collectives of the gradient sync start in the same
  // order among them as on the ranks that have samples.
  void forward_without_samples() {
    for (auto& n : nodes_) n.layer->forward_without_samples();
  }
  void backward_without_samples() {
    const size_t count = nodes_.size();
    wants_.assign(count, 0);
    for (size_t i = 0; i < count; ++i) {
      bool w = nodes_[i].layer->learns();
      for (int k : nodes_[i].inputs) w = w || (k >= 0 && wants_[size_t(k)]);
      wants_[i] = w;
    }
    for (size_t i = count; i-- > 0;) {
      if (!wants_[i]) continue;
      bool dx = false;
      for (int k : nodes_[i].inputs) dx = dx || (k >= 0 && wants_[size_t(k)]);
      nodes_[i].layer->backward_without_samples(dx);
      if (backward_hook_) backward_hook_(i);
    }
  }

  // Called after each node's backward, with its index, while backward goes on below it: the
  // node's parameter gradients are final then, so a data-parallel trainer starts averaging
  // them across ranks while the lower nodes still run (graft/dist/grad_sync.hpp). Empty: none.
  void set_backward_hook(std::function<void(size_t)> hook) { backward_hook_ = std::move(hook); }
  // How many times each node's backward has run (to check pruning).
  const std::vector<uint64_t>& backward_counts() const { return backward_count_; }

  // ---- printing ----
  // A table like the caffe-tensorflow conversion log: type, name, output, parameters, state;
  // for a graph that is not a chain, the nodes each reads.
  std::string summary() {
    const bool chain = is_chain();
    size_t wn = 12, wt = 12;
    for (auto& n : nodes_) {
      wn = std::max(wn, n.layer->name().size());
      wt = std::max(wt, std::string(n.layer->type()).size());
    }
    std::string s;
    auto row = [&](const std::string& type, const std::string& name, const std::string& out,
                   const std::string& params, const std::string& learns, const std::string& ins) {
      char line[512];
      std::snprintf(line, sizeof line, "%-*s %-*s %-22s %12s  %-9s%s%s\n", int(wt), type.c_str(), int(wn),
                    name.c_str(), out.c_str(), params.c_str(), learns.c_str(), ins.empty() ? "" : "  ",
                    ins.c_str());
      std::string l = line;
      while (l.size() > 1 && l[l.size() - 2] == ' ') l.erase(l.size() - 2, 1);
      s += l;
    };
    row("Type", "Name", "Output", "Params", "Learns", chain ? "" : "Inputs");
    row("Input", "input", input1_.str(), "--", "", "");
    for (size_t i = 0; i < nodes_.size(); ++i) {
      LayerT& l = *nodes_[i].layer;
      int64_t n = 0;
      for (auto* p : l.params()) n += p->value.size();
      const bool has = !l.params().empty();
      std::string ins;
      if (!chain)
        for (int k : nodes_[i].inputs) ins += (ins.empty() ? "" : ", ") + (k < 0 ? std::string("input") : nodes_[size_t(k)].layer->name());
      row(l.type(), l.name(), nodes_[i].shape.str(), has ? std::to_string(n) : "--",
          has ? (l.learns() ? "trainable" : "frozen") : "", ins);
    }
    char line[256];
    std::snprintf(line, sizeof line, "parameters: %lld, trainable: %lld\n",
                  static_cast<long long>(parameter_count()),
                  static_cast<long long>(parameter_count(true)));
    return s + line;
  }

 private:
  struct Node {
    std::unique_ptr<LayerT> layer;
    std::vector<int> inputs;  // node indices, kInput for the network's input
    Shape shape;              // output shape for a batch of one
    bool relu_fused = false;  // a ReLU whose input node applies it (fuse_relu)
    int relu_reader = -1;     // a ReLU whose one reader, this node, rectifies its input (fuse_relu)
  };

  // The nodes that read node j's output.
  std::vector<size_t> readers_of(int j) const {
    std::vector<size_t> v;
    for (size_t k = 0; k < nodes_.size(); ++k)
      for (int in : nodes_[k].inputs)
        if (in == j) {
          v.push_back(k);
          break;
        }
    return v;
  }

  Network& add_node(std::unique_ptr<LayerT> layer, const std::vector<int>& inputs) {
    GRAFT_CHECK(layer, "network: add() of a null layer");
    GRAFT_CHECK(index_of(layer->name()) < 0 && layer->name() != "input", "network: a node named '",
                layer->name(), "' already exists");
    std::vector<Shape> shapes;
    for (int k : inputs) shapes.push_back(shape_after(k));
    Shape out;
    try {
      out = layer->setup(shapes, ctx_);  // setup draws the parameters with seed 0
    } catch (const Error& e) {
      std::string got;
      for (size_t j = 0; j < inputs.size(); ++j)
        got += (j ? ", " : "") + (inputs[j] < 0 ? std::string("input") : nodes_[size_t(inputs[j])].layer->name()) +
               " " + shapes[j].str();
      throw Error(std::string("network: node '") + layer->name() + "' (reading " + got + "): " + e.what());
    }
    if (seed_ != 0) layer->initialize(seed_);
    layer->set_training(training_);
    Node n;
    n.layer = std::move(layer);
    n.inputs = inputs;
    n.shape = out;
    nodes_.push_back(std::move(n));
    backward_count_.push_back(0);
    cursor_ = int(nodes_.size()) - 1;
    return *this;
  }
  // The tensor node k's readers get in the last forward (k = from_ - 1 or kInput: the input).
  const TensorT& in(int k) const {
    if (k < 0 || size_t(k) + 1 == from_) return *input_;
    return acts_[size_t(k)];
  }
  void gather_inputs(const Node& n) {
    xs_.clear();
    for (int k : n.inputs) xs_.push_back(&in(k));
  }
  int take_slot() {
    if (free_.empty()) {
      grads_.emplace_back();
      return int(grads_.size()) - 1;
    }
    const int s = free_.back();
    free_.pop_back();
    return s;
  }
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
  static Shape with_batch(const Shape& s, int64_t n, bool sample = false) {
    std::vector<int64_t> d{n};
    const int start = sample ? 0 : 1;
    for (int i = start; i < s.rank(); ++i) d.push_back(s[i]);
    return Shape(d);
  }
  std::string node_list() const {
    std::string known = "input";
    for (auto& n : nodes_) known += ", " + n.layer->name();
    return known;
  }
  size_t require(const std::string& name) const {
    const int i = index_of(name);
    GRAFT_CHECK(i >= 0, "network: no node named '", name, "' (nodes: ", node_list(), ")");
    return static_cast<size_t>(i);
  }
  void set_trainable(size_t from, size_t to, bool on) {
    for (size_t i = from; i < to; ++i)
      for (auto* p : nodes_[i].layer->params()) p->trainable = on;
  }
  // relu after conv1_1 -> relu1_1; after fc6 -> relu6; dropout after relu6 -> drop6 (the
  // numbered suffix of the node read, as in Caffe's VGG); otherwise kind_<index>.
  std::string derived_name(const std::string& kind) const {
    if (cursor_ >= 0) {
      const std::string& prev = nodes_[size_t(cursor_)].layer->name();
      const size_t digit = prev.find_first_of("0123456789");
      if (digit != std::string::npos && digit > 0) {
        std::string candidate = kind + prev.substr(digit);
        if (index_of(candidate) < 0) return candidate;
      }
    }
    return kind + "_" + std::to_string(nodes_.size());
  }

  Shape sample_;
  Shape input1_;  // the input for a batch of one
  Context<D> ctx_;
  std::vector<Node> nodes_;
  int cursor_ = kInput;       // the node the next chain call reads
  std::vector<TensorT> acts_;  // output of each node, last forward
  // backward: gradient buffers handed out by liveness (a chain uses two), the buffer of each
  // node's output gradient, and scratch for the second and later readers of a tensor
  std::deque<TensorT> grads_;  // a deque: taking a new buffer leaves the others in place
  std::vector<TensorT> scratch_;
  std::vector<int> slot_, free_, adds_;
  std::vector<char> wants_;
  std::vector<uint64_t> backward_count_;
  std::vector<const TensorT*> xs_;
  std::vector<TensorT*> dxs_;
  const TensorT* input_ = nullptr;
  // channels-last mode: the input and the output gradient as the layers take them, and the
  // logical copies of 4-D outputs handed back
  TensorT input_stored_, dout_stored_, output_logical_, activation_logical_;
  bool channels_last_ = false;  // the context's layout at the last forward
  size_t from_ = 0;
  std::function<void(size_t)> backward_hook_;
  bool stats_sync_ = false;  // set_batchnorm_sync gave some layer a reducer
  uint64_t seed_ = 0;
  bool training_ = false;
};

}  // namespace nn
}  // namespace graft
