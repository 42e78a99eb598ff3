// CPU references for the CUDA tests, computed by the CPU layers (in double where rounding
// matters, in float where the operation is exact). Declared without Eigen so that .cu files can
// include this header; reference.cpp, compiled by the host compiler, includes the CPU backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/backend/geometry.hpp"
#include "graft/core/tensor.hpp"

namespace graft {
namespace test {
namespace ref {

struct Conv {
  Tensor<double> y, dx, dw, db;
};
// Conv2d<double, CPU> with weights w (o, c, kh, kw) and bias b: forward on x, backward from dy.
Conv conv2d(const Window2d& win, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
            const Tensor<float>& dy);

struct Pool {
  Tensor<float> y, dx;
};
Pool max_pool(const Window2d& win, const Tensor<float>& x, const Tensor<float>& dy);

// AddReLU<float, CPU> on two inputs: y and each input's gradient from dy.
struct Sum {
  Tensor<float> y;
  std::vector<Tensor<float>> dx;
};
Sum add_relu(const Tensor<float>& a, const Tensor<float>& b, const Tensor<float>& dy);

struct Linear {
  Tensor<double> y, dx, dw, db;
};
Linear linear(const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b, const Tensor<float>& dy);

struct Relu {
  Tensor<float> y, dx;
};
Relu relu(const Tensor<float>& x, const Tensor<float>& dy);

struct Softmax {
  double loss = 0;
  Tensor<float> probs, dlogits;
};
Softmax softmax_xent(const Tensor<float>& logits, const Tensor<int32_t>& labels, float scale);

// A small VGG16 (nn::vgg16<double, CPU>, width w, square input, evaluation mode: no dropout)
// with parameters drawn from `seed`: the loss of x and labels, the logits, pool5's output, and
// every parameter's gradient in params() order ("conv1_1/weights", ...).
struct Vgg {
  double loss = 0;
  Tensor<double> logits, pool5;
  std::vector<std::string> names;
  std::vector<Tensor<double>> grads;
};
Vgg vgg16_small(double width, int64_t classes, uint64_t seed, const Tensor<float>& x, const Tensor<int32_t>& labels);

// Per-channel layers in double: outputs, gradients and (BatchNorm2d) the running statistics
// after the forward.
struct Norm {
  Tensor<double> y, dx, dscale, doffset, mean, var;
};
// BatchNorm2d<double, CPU> with gamma, beta and running statistics mean0/var0, in training
// mode (batch statistics) or evaluation mode; forward on x, backward from dy.
Norm batch_norm(const Tensor<float>& x, const Tensor<float>& gamma, const Tensor<float>& beta,
                const Tensor<float>& mean0, const Tensor<float>& var0, bool training, double eps, double momentum,
                const Tensor<float>& dy);
// Affine<double, CPU>; offset null: without offset.
Norm affine(const Tensor<float>& x, const Tensor<float>& scale, const Tensor<float>* offset, const Tensor<float>& dy);

// tests/support/residual_net.hpp's network in double (seed): the output of x and every
// parameter's gradient from dout, in params() order.
struct Residual {
  Tensor<double> out;
  std::vector<std::string> names;
  std::vector<Tensor<double>> grads;
};
Residual residual_net(uint64_t seed, const Tensor<float>& x, const Tensor<float>& dout);

// The optimizer updates in place on host copies.
void sgd(Tensor<float>& w, const Tensor<float>& g, Tensor<float>& buf, float lr, float momentum, float wd,
         bool nesterov);
void adam(Tensor<float>& w, const Tensor<float>& g, Tensor<float>& m, Tensor<float>& v, float lr, float b1, float b2,
          float eps, float wd, int64_t step);

}  // namespace ref
}  // namespace test
}  // namespace graft
