// graft-demo: a small end-to-end forward/backward run on the CPU.
//
// A conv -> relu -> pool -> fc network learns to tell two kinds of generated 16x16 images
// apart (a bright blob on the left or on the right) with plain SGD; the loss and accuracy
// are printed as it learns. It shows the layer API without any data files.
#include <cstdio>
#include <memory>
#include <vector>

#include "graft/graft.hpp"

using namespace graft;

int main() {
  Context<CPU> ctx;
  std::vector<std::unique_ptr<Layer<float, CPU>>> net;
  net.emplace_back(new Conv2d<float>("conv1", 1, 8, 3, 1, 1));
  net.emplace_back(new ReLU<float>("relu1"));
  net.emplace_back(new MaxPool2d<float>("pool1", 2, 2));
  net.emplace_back(new Linear<float>("fc2", 0, 2));
  SoftmaxCrossEntropy<float> loss;
  loss.setup(ctx);

  const int64_t batch = 32;
  Shape s{batch, 1, 16, 16};
  for (auto& l : net) {
    s = l->setup(s, ctx);
    l->initialize(1);
    std::printf("%-6s %-10s -> %s\n", l->name().c_str(), l->type(), s.str().c_str());
  }

  std::vector<Tensor<float>> act(net.size() + 1), grad(net.size() + 1);
  Tensor<int32_t> labels(Shape{batch});
  Rng rng(7);
  const float lr = 0.05f;
  for (int step = 0; step <= 60; ++step) {
    // A batch: label 0 = blob on the left, 1 = on the right, plus noise.
    Tensor<float>& x = act[0];
    x.resize(Shape{batch, 1, 16, 16});
    for (int64_t n = 0; n < batch; ++n) {
      labels[n] = static_cast<int32_t>(rng.below(2));
      const int cx = labels[n] ? 11 : 4, cy = 4 + static_cast<int>(rng.below(8));
      for (int h = 0; h < 16; ++h)
        for (int w = 0; w < 16; ++w) {
          const float d2 = float((h - cy) * (h - cy) + (w - cx) * (w - cx));
          x.at(n, 0, h, w) = (d2 < 6 ? 1.0f : 0.0f) + 0.3f * float(rng.normal());
        }
    }
    for (size_t i = 0; i < net.size(); ++i) net[i]->forward(act[i], act[i + 1]);
    const double l = loss.forward(act.back(), labels);
    loss.backward(labels, grad.back());
    for (size_t i = net.size(); i-- > 0;)
      net[i]->backward(act[i], act[i + 1], grad[i + 1], i ? &grad[i] : nullptr);
    for (auto& layer : net)
      for (auto* p : layer->params())
        for (int64_t k = 0; k < p->value.size(); ++k) p->value[k] -= lr * p->grad[k];
    if (step % 10 == 0) {
      int correct = 0;
      const auto& p = loss.probabilities();
      for (int64_t n = 0; n < batch; ++n) correct += (p[2 * n + 1] > p[2 * n]) == (labels[n] == 1);
      std::printf("step %2d  loss %.4f  batch accuracy %.2f\n", step, l, double(correct) / batch);
    }
  }
  return 0;
}
