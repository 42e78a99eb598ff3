// The CPU side of the CUDA tests (see reference.hpp): the CPU layers on host copies.
#include "cuda/reference.hpp"
#include "cuda/host_assign.hpp"

#include "graft/cpu.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"
#include "support/residual_net.hpp"

namespace graft {
namespace test {
namespace ref {

namespace {
// layer's forward and backward on double copies of x and dy: y and dx into r.
template <class L, class R>
void forward_backward(L& layer, const Tensor<float>& x, const Tensor<float>& dy, R& r) {
  Tensor<double> xd, dyd;
  assign(xd, x);
  assign(dyd, dy);
  layer.forward(xd, r.y);
  layer.backward(xd, r.y, dyd, &r.dx);
}
}  // namespace

Conv conv2d(const Window2d& win, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
            const Tensor<float>& dy) {
  Context<CPU> ctx;
  Conv2d<double> conv("ref_conv", w.dim(1), w.dim(0), win);
  conv.setup(x.shape(), ctx);
  assign(conv.weights.value, w);
  assign(conv.biases.value, b);
  Conv r;
  forward_backward(conv, x, dy, r);
  r.dw = clone(conv.weights.grad);
  r.db = clone(conv.biases.grad);
  return r;
}

Norm batch_norm(const Tensor<float>& x, const Tensor<float>& gamma, const Tensor<float>& beta,
                const Tensor<float>& mean0, const Tensor<float>& var0, bool training, double eps, double momentum,
                const Tensor<float>& dy) {
  Context<CPU> ctx;
  BatchNorm2d<double> bn("ref_bn", x.dim(1), eps, momentum);
  bn.setup(x.shape(), ctx);
  bn.set_training(training);
  assign(bn.scale.value, gamma);
  assign(bn.offset.value, beta);
  assign(bn.running_mean, mean0);
  assign(bn.running_var, var0);
  Norm r;
  forward_backward(bn, x, dy, r);
  r.dscale = clone(bn.scale.grad);
  r.doffset = clone(bn.offset.grad);
  r.mean = clone(bn.running_mean);
  r.var = clone(bn.running_var);
  return r;
}

Norm affine(const Tensor<float>& x, const Tensor<float>& scale, const Tensor<float>* offset, const Tensor<float>& dy) {
  Context<CPU> ctx;
  Affine<double> a("ref_affine", x.dim(1), offset != nullptr);
  a.setup(x.shape(), ctx);
  assign(a.scale.value, scale);
  if (offset) assign(a.offset.value, *offset);
  Norm r;
  forward_backward(a, x, dy, r);
  r.dscale = clone(a.scale.grad);
  if (offset) r.doffset = clone(a.offset.grad);
  return r;
}

Pool max_pool(const Window2d& win, const Tensor<float>& x, const Tensor<float>& dy) {
  Context<CPU> ctx;
  MaxPool2d<float> pool("ref_pool", win);
  pool.setup(x.shape(), ctx);
  Pool r;
  pool.forward(x, r.y);
  pool.backward(x, r.y, dy, &r.dx);
  return r;
}

namespace {
template <class L>
Sum run_multi(L& layer, const std::vector<const Tensor<float>*>& in, const Tensor<float>& dy) {
  Context<CPU> ctx;
  std::vector<Shape> shapes;
  for (auto* x : in) shapes.push_back(x->shape());
  layer.setup(shapes, ctx);
  Sum r;
  layer.forward_multi(in, r.y);
  r.dx.resize(in.size());
  std::vector<Tensor<float>*> out;
  for (auto& d : r.dx) out.push_back(&d);
  layer.backward_multi(in, r.y, dy, out);
  return r;
}
}  // namespace

Sum add_relu(const Tensor<float>& a, const Tensor<float>& b, const Tensor<float>& dy) {
  graft::AddReLU<float> layer("ref_add_relu");
  return run_multi(layer, {&a, &b}, dy);
}

Linear linear(const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b, const Tensor<float>& dy) {
  Context<CPU> ctx;
  graft::Linear<double> fc("ref_fc", w.dim(1), w.dim(0));
  fc.setup(x.shape(), ctx);
  assign(fc.weights.value, w);
  assign(fc.biases.value, b);
  Linear r;
  forward_backward(fc, x, dy, r);
  r.dw = clone(fc.weights.grad);
  r.db = clone(fc.biases.grad);
  return r;
}

Relu relu(const Tensor<float>& x, const Tensor<float>& dy) {
  Context<CPU> ctx;
  ReLU<float> layer("ref_relu");
  layer.setup(x.shape(), ctx);
  Relu r;
  layer.forward(x, r.y);
  layer.backward(x, r.y, dy, &r.dx);
  return r;
}

Softmax softmax_xent(const Tensor<float>& logits, const Tensor<int32_t>& labels, float scale) {
  Context<CPU> ctx;
  SoftmaxCrossEntropy<float> loss;
  loss.setup(ctx);
  Softmax r;
  r.loss = loss.forward(logits, labels);
  r.probs = clone(loss.probabilities());
  loss.backward(labels, r.dlogits, scale);
  return r;
}

void sgd(Tensor<float>& w, const Tensor<float>& g, Tensor<float>& buf, float lr, float momentum, float wd,
         bool nesterov) {
  Context<CPU> ctx;
  Backend<CPU>::sgd_update(ctx, w.size(), w.data(), g.data(), buf.data(), lr, momentum, wd, nesterov);
}

void adam(Tensor<float>& w, const Tensor<float>& g, Tensor<float>& m, Tensor<float>& v, float lr, float b1, float b2,
          float eps, float wd, int64_t step) {
  Context<CPU> ctx;
  Backend<CPU>::adam_update(ctx, w.size(), w.data(), g.data(), m.data(), v.data(), lr, b1, b2, eps, wd, step);
}

Vgg vgg16_small(double width, int64_t classes, uint64_t seed, const Tensor<float>& x, const Tensor<int32_t>& labels) {
  nn::VggOptions vo;
  vo.width = width;
  vo.input = x.dim(2);
  auto net = nn::vgg16<double, CPU>(classes, vo);
  net->initialize(seed);
  net->set_training(false);
  Tensor<double> xd;
  assign(xd, x);
  Vgg r;
  r.logits = clone(net->forward(xd));
  r.pool5 = clone(net->activation(size_t(net->index_of("pool5"))));
  SoftmaxCrossEntropy<double> loss;
  loss.setup(net->context());
  r.loss = loss.forward(r.logits, labels);
  Tensor<double> dlogits;
  loss.backward(labels, dlogits);
  net->backward(dlogits);
  for (auto& np : net->params()) {
    r.names.push_back(np.name);
    r.grads.push_back(clone(np.param->grad));
  }
  return r;
}

Residual residual_net(uint64_t seed, const Tensor<float>& x, const Tensor<float>& dout) {
  auto net = test::residual_net<double, CPU>(seed);
  Tensor<double> xd, dd;
  assign(xd, x);
  assign(dd, dout);
  Residual r;
  r.out = clone(net->forward(xd));
  net->backward(dd);
  for (auto& np : net->params()) {
    r.names.push_back(np.name);
    r.grads.push_back(clone(np.param->grad));
  }
  return r;
}

}  // namespace ref
}  // namespace test
}  // namespace graft
