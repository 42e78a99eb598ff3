// Layer<T, D>: the interface every layer implements, and Param, a named learnable tensor.
//
// A layer is a small object with setup / forward / backward. It knows nothing of the
// network around it: it gets an input, writes an output, and on the way back gets the
// output's gradient and writes the input's gradient (only when asked: the lowest layer
// that learns is not asked) and the gradients of its trainable parameters.
//
// Most layers read one input and implement the single-input forms. A layer that reads
// several (Add) says so with arity() and overrides the *_multi forms, which the network
// calls; their defaults hand a single input to the single-input forms.
//
// A layer describes itself, so the code around it never tests its type:
//   params()      the trainable parameters (stepped by optimizers, flipped by freezing)
//   buffers()     tensors it keeps beyond them (BatchNorm's running statistics): saved in
//                 weights files and checkpoints, never stepped nor frozen
//   counters()    integers that make it reproducible (dropout's seed and step): checkpoints
//   file_layout() how a parameter is laid out in caffe-tensorflow files
//   flops()       the forward pass's floating-point operations, for the benchmarks
//   spec()        what it computes, in terms a model file can spell (ONNX export): an
//                 operation and its settings; the values are its params() and buffers()
//   implementation_kind(), implementations(), use_implementation()
//                 the backend's ways to run it ("im2col", "winograd"; "cudnn", "graft"),
//                 chosen by name in benchmarks and tests
//   set_stats_reducer()
//                 whether it sums batch statistics across ranks (synchronised BatchNorm)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/core/device.hpp"
#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/stats_reducer.hpp"

namespace graft {

template <class T, class D>
struct Param {
  std::string name;    // "weights" or "biases": the names of the caffe-tensorflow files
  Tensor<T, D> value;  // weights: OIHW for convolutions, (out, in) for fully connected
  Tensor<T, D> grad;   // written by backward when trainable; same shape as value
  bool trainable = true;
  float lr_mult = 1.0f;     // per-parameter learning-rate multiplier (Caffe's lr_mult)
  float decay_mult = 1.0f;  // weight-decay multiplier; biases default to 0
};

// A tensor a layer keeps beyond its parameters ("mean", "variance").
template <class T, class D>
struct Buffer {
  std::string name;
  Tensor<T, D>* tensor;
};

// An integer of a layer's state that a checkpoint restores ("seed", "step").
struct Counter {
  std::string name;
  uint64_t* value;
};

// How a parameter is stored in caffe-tensorflow files (.npy dicts, graft's .npz).
enum class FileLayout {
  same,       // as graft holds it
  conv_hwio,  // graft OIHW, files HWIO
  fc_in_out,  // graft (out, in), files (in, out), rows in H,W,C order for a spatial input
};

// What a layer computes, for writers of model files (graft/nn/onnx_export.hpp): an operation
// and its settings. The values it works with are the layer's params() and buffers(), by name
// ("weights", "biases", "scale", "offset", "mean", "variance").
struct LayerSpec {
  // "" (no portable form), "conv", "linear", "relu", "max_pool", "avg_pool", "global_avg_pool",
  // "batch_norm", "affine", "add", "add_relu", "dropout", "flatten", "leaky_relu", "prelu"
  // (parameter "slope": one value, or one per channel), "softmax" (over axis 1)
  std::string op;
  Window2d window;               // conv, max_pool, avg_pool
  bool count_pad = false;        // avg_pool: the divisor counts the padding
  bool zero_pad = false;         // add: smaller inputs count as zero outside their sizes
  double eps = 0, momentum = 0;  // batch_norm (graft's momentum: the weight of the new batch)
  double alpha = 0;              // leaky_relu: the slope below 0
};

template <class T, class D>
class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // The layer's kind as the summary prints it: "Conv2d", "ReLU", ...
  virtual const char* type() const = 0;
  const std::string& name() const { return name_; }

  // Once, before use: validates an example input shape (batch first), allocates the
  // parameters and backend state, and returns the output shape. Later calls may use any
  // batch size; the other dimensions must match.
  Shape setup(const Shape& input, Context<D>& ctx) { return setup(std::vector<Shape>{input}, ctx); }
  Shape setup(const std::vector<Shape>& inputs, Context<D>& ctx) {
    check_arity(inputs.size());
    ctx_ = &ctx;
    Shape out = output_shape_multi(inputs);
    on_setup_multi(inputs);
    input_shape_ = inputs[0];
    input_shapes_ = inputs;
    return out;
  }
  bool is_setup() const { return ctx_ != nullptr; }

  // Output shape for an input shape; throws graft::Error naming the layer, the expected
  // and the actual shape when the input does not fit.
  virtual Shape output_shape(const Shape& input) const = 0;

  // y = f(x). y is resized by the layer (its storage is reused from call to call).
  virtual void forward(const Tensor<T, D>& x, Tensor<T, D>& y) = 0;

  // Given x, y = f(x) and dL/dy: writes dL/dx into *dx when dx is not null, and dL/dp into
  // p.grad for every trainable parameter p (overwriting it). Frozen parameters' gradients
  // are neither computed nor touched.
  virtual void backward(const Tensor<T, D>& x, const Tensor<T, D>& y, const Tensor<T, D>& dy,
                        Tensor<T, D>* dx) = 0;

  // ---- several inputs ----
  // How many inputs the layer reads: 1, or kAnyArity for two or more.
  static constexpr int kAnyArity = -1;
  virtual int arity() const { return 1; }
  virtual Shape output_shape_multi(const std::vector<Shape>& in) const {
    check_arity(in.size());
    return output_shape(in[0]);
  }
  virtual void forward_multi(const std::vector<const Tensor<T, D>*>& xs, Tensor<T, D>& y) {
    check_arity(xs.size());
    forward(*xs[0], y);
  }
  // dxs[i] null: input i's gradient is not wanted.
  virtual void backward_multi(const std::vector<const Tensor<T, D>*>& xs, const Tensor<T, D>& y,
                              const Tensor<T, D>& dy, const std::vector<Tensor<T, D>*>& dxs) {
    check_arity(xs.size());
    backward(*xs[0], y, dy, dxs.at(0));
  }

  // ---- what the layer holds ----
  virtual std::vector<Param<T, D>*> params() { return {}; }
  virtual std::vector<Buffer<T, D>> buffers() { return {}; }
  virtual std::vector<Counter> counters() { return {}; }
  virtual FileLayout file_layout(const Param<T, D>& /*p*/) const { return FileLayout::same; }
  // True for a layer that only reorders its input into (n, C*H*W) (Flatten): a fully
  // connected layer after it reads C, H, W from the flattening layer's input.
  virtual bool flattens() const { return false; }
  // Floating-point operations of one forward pass on inputs of these shapes (batch
  // included); a multiply-add counts 2. Memory-bound layers (ReLU, pooling, BatchNorm, Add)
  // say 0, so that a fraction of the peak counts the products alone.
  virtual double flops(const std::vector<Shape>& /*inputs*/) const { return 0.0; }
  // What the layer computes (LayerSpec); the default, an empty op, has no portable form.
  virtual LayerSpec spec() const { return {}; }

  // ---- how the backend runs it ----
  // What the choice is about ("convolution", "pooling"), so that a benchmark can force one
  // convolution algorithm on every layer that has it; empty: the layer has one way to run.
  virtual std::string implementation_kind() const { return ""; }
  // The implementations that apply to the layer as set up, by name.
  virtual std::vector<std::string> implementations() const { return {}; }
  // Runs `name` from now on ("auto": the backend's choice); graft::Error naming the layer
  // when it does not apply.
  virtual void use_implementation(const std::string& name) {
    GRAFT_CHECK(name == "auto", where(), ": has one implementation, asked for '", name, "'");
  }

  // ---- fusion (nn::Network::fuse_relu) ----
  // A layer that can apply ReLU to its own output in the same pass says true and does so
  // from then on (on = false: back to its plain output); the default cannot.
  virtual bool fuse_relu_epilogue(bool /*on*/) { return false; }
  // A one-input layer that can rectify its input in its own pass (Dropout: max(x, 0) under the
  // mask) says true and does so from then on, in training and evaluation alike (ReLU is
  // idempotent, so an input that is rectified already loses nothing); on = false: undone.
  virtual bool fuse_relu_prologue(bool /*on*/) { return false; }
  // True for ReLU (y = max(x, 0)). Told to pass through (its input is rectified already by the
  // layer below, or the one layer reading it rectifies), it gives its input as a view instead
  // of writing a copy; its backward is unchanged (y > 0 exactly where max(x, 0) > 0).
  virtual bool rectifies() const { return false; }
  virtual void set_pass_through(bool /*on*/) {}

  // ---- statistics across ranks (synchronised BatchNorm; nn::Network::set_batchnorm_sync) ----
  // A layer whose training forward uses statistics of the batch says true and from then on
  // sums them over the ranks through `r` (null: its own share only, the default); the others
  // say false. The reducer must outlive its use.
  virtual bool set_stats_reducer(StatsReducer* /*r*/) { return false; }
  // For a rank whose share of a batch is empty: take part, with nothing of its own, in the
  // sums that forward (then backward, with an input gradient wanted or not) would make, so
  // that the other ranks do not wait for it. Layers without a reducer have none to make.
  virtual void forward_without_samples() {}
  virtual void backward_without_samples(bool /*dx_wanted*/) {}

  // Draws initial parameter values and seeds any random stream (seeded; the scheme is
  // documented on each layer).
  virtual void initialize(uint64_t /*seed*/) {}

  void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }
  // False when forward is not a pure function of the input (dropout while training).
  virtual bool deterministic() const { return true; }

  bool learns() {
    for (auto* p : params())
      if (p->trainable) return true;
    return false;
  }
  // The (first) input's shape at setup, and all of them.
  const Shape& input_shape() const { return input_shape_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }

 protected:
  virtual void on_setup(const Shape& /*input*/) {}
  virtual void on_setup_multi(const std::vector<Shape>& inputs) { on_setup(inputs[0]); }
  void check_arity(size_t n) const {
    const int a = arity();
    GRAFT_CHECK(a == kAnyArity ? n >= 2 : n == size_t(a), where(), ": takes ",
                a == kAnyArity ? std::string("two or more inputs") : std::to_string(a) + " input(s)",
                ", given ", n);
  }
  // The context, told that this layer is now running (so that a backend's errors name it).
  Context<D>& ctx() const {
    GRAFT_CHECK(ctx_, name_, " (", type(), "): used before setup()");
    ctx_->enter(name_, type());
    return *ctx_;
  }
  // "conv1_1 (Conv2d)", the prefix of every message about this layer.
  std::string where() const { return name_ + " (" + type() + ")"; }
  // Checks that dims 1.. of `got` equal those of `want` (the batch may differ).
  void check_same_sample_shape(const Shape& got, const Shape& want, const char* what) const {
    bool ok = got.rank() == want.rank() && got.rank() >= 1;
    for (int i = 1; ok && i < got.rank(); ++i) ok = got[i] == want[i];
    GRAFT_CHECK(ok, where(), ": ", what, " has shape ", got.str(), ", expected ", want.str(),
                " (any batch size)");
  }

 private:
  std::string name_;
  Context<D>* ctx_ = nullptr;
  Shape input_shape_;
  std::vector<Shape> input_shapes_;
  bool training_ = false;
};

// Every layer resizes its gradient outputs like this.
template <class T, class D>
inline void ensure_grad_shape(Param<T, D>& p) {
  if (p.grad.shape() != p.value.shape()) p.grad.resize(p.value.shape());
}

}  // namespace graft
