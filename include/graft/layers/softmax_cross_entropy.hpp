// SoftmaxCrossEntropy: the loss of a classifier. Takes logits (n, k) (or (n, k, 1, 1))
// and n integer labels in [0, k); gives the mean cross-entropy, the probabilities, and the
// gradient of the logits, probs - onehot(labels), divided by n.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "graft/core/device.hpp"
#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"

namespace graft {

template <class T, class D = CPU>
class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(std::string name = "loss") : name_(std::move(name)) {}
  void setup(Context<D>& ctx) { ctx_ = &ctx; }
  const std::string& name() const { return name_; }

  // Returns the mean loss over the batch; probabilities() holds the softmax afterwards.
  double forward(const Tensor<T, D>& logits, const Tensor<int32_t, D>& labels) {
    const auto nk = classes_of(logits.shape());
    check_labels(nk.first, nk.second, labels);
    probs_.resize(Shape{nk.first, nk.second});
    return Backend<D>::softmax_xent_forward(context(), nk.first, nk.second, logits.data(),
                                            labels.data(), probs_.data());
  }
  // Softmax only, for inference (no labels).
  void predict(const Tensor<T, D>& logits) {
    const auto nk = classes_of(logits.shape());
    probs_.resize(Shape{nk.first, nk.second});
    Backend<D>::softmax_xent_forward(context(), nk.first, nk.second, logits.data(),
                                     static_cast<const int32_t*>(nullptr), probs_.data());
  }

  // dlogits = scale * (probabilities - onehot(labels)) / n, in the logits' shape.
  void backward(const Tensor<int32_t, D>& labels, Tensor<T, D>& dlogits, T scale = T(1)) {
    const int64_t n = probs_.shape().rank() == 2 ? probs_.shape()[0] : 0;
    GRAFT_CHECK(n > 0, name_, " (SoftmaxCrossEntropy): backward() before forward()");
    GRAFT_CHECK(labels.size() == n, name_, " (SoftmaxCrossEntropy): ", labels.size(),
                " labels for a batch of ", n);
    dlogits.resize(probs_.shape());
    Backend<D>::softmax_xent_backward(context(), n, probs_.shape()[1], probs_.data(),
                                      labels.data(), scale, dlogits.data());
  }

  const Tensor<T, D>& probabilities() const { return probs_; }

 private:
  std::pair<int64_t, int64_t> classes_of(const Shape& s) const {
    bool ok = s.rank() == 2 || (s.rank() == 4 && s[2] == 1 && s[3] == 1);
    GRAFT_CHECK(ok && s[1] > 0, name_, " (SoftmaxCrossEntropy): expected logits (n, classes), got shape ",
                s.str());
    return {s[0], s[1]};
  }
  void check_labels(int64_t n, int64_t k, const Tensor<int32_t, D>& labels) {
    GRAFT_CHECK(labels.size() == n, name_, " (SoftmaxCrossEntropy): ", labels.size(),
                " labels for a batch of ", n, " logits");
    const int64_t bad = Backend<D>::first_bad_label(context(), n, k, labels.data());
    GRAFT_CHECK(bad < 0, name_, " (SoftmaxCrossEntropy): label at index ", bad,
                " is outside [0, ", k, ")");
  }
  Context<D>& context() const {
    GRAFT_CHECK(ctx_, name_, " (SoftmaxCrossEntropy): used before setup()");
    ctx_->enter(name_, "SoftmaxCrossEntropy");
    return *ctx_;
  }

  std::string name_;
  Context<D>* ctx_ = nullptr;
  Tensor<T, D> probs_;
};

}  // namespace graft
