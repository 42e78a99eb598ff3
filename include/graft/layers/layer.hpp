// Layer<T, D>: the interface every layer implements, and Param, a named learnable tensor.
//
// A layer is a small object with setup / forward / backward. It knows nothing of the
// network around it: it gets an input, writes an output, and on the way back gets the
// output's gradient and writes the input's gradient (only when asked: the lowest layer
// that learns is not asked) and the gradients of its trainable parameters.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/device.hpp"
#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/shape.hpp"
#include "graft/core/tensor.hpp"

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
  Shape setup(const Shape& input, Context<D>& ctx) {
    ctx_ = &ctx;
    Shape out = output_shape(input);
    on_setup(input);
    input_shape_ = input;
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

  virtual std::vector<Param<T, D>*> params() { return {}; }
  // Draws initial parameter values (seeded; the scheme is documented on each layer).
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
  const Shape& input_shape() const { return input_shape_; }

 protected:
  virtual void on_setup(const Shape& /*input*/) {}
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
  bool training_ = false;
};

// Every layer resizes its gradient outputs like this.
template <class T, class D>
inline void ensure_grad_shape(Param<T, D>& p) {
  if (p.grad.shape() != p.value.shape()) p.grad.resize(p.value.shape());
}

}  // namespace graft
