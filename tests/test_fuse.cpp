// [graph]: Network::fuse_relu, the ReLU fused into the convolution's bias pass, or into the
// dropout that reads it. The fused network must compute the unfused one's values bit for bit
// (forward, every parameter's gradient, the input gradient), fuse only where the convolution's
// output has no other reader, apply the ReLU when a forward starts at the fused ReLU or at
// the dropout (cuts, as the feature cache makes), and come apart again with fuse_relu(false).
#include <catch2/catch.hpp>

#include <cstring>

#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "support/random_fill.hpp"

using namespace graft;

namespace {

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

struct Pass {
  Tensor<float> out, dx;
  std::vector<Tensor<float>> grads;
};

Pass run(nn::Network<float>& net, const Tensor<float>& x, const Tensor<float>& dout) {
  Pass p;
  p.out = clone(net.forward(x));
  Tensor<float> dx;
  net.backward(dout);
  for (auto& np : net.params()) p.grads.push_back(clone(np.param->grad));
  return p;
}

}  // namespace

TEST_CASE("fuse_relu: a fused VGG-like chain equals the unfused one bit for bit", "[graph]") {
  nn::Network<float> net(Shape{3, 12, 12});
  net.conv("conv1", 6, 3, 1, 1).relu("relu1").conv("conv2", 8, 3, 1, 1).relu("relu2").max_pool("pool", 2, 2);
  net.fc("fc1", 10).relu("relu3").fc("fc2", 4);
  net.initialize(3);
  net.unfreeze_all();
  Tensor<float> x(Shape{2, 3, 12, 12}), dout(Shape{2, 4});
  test::fill_normal(x, 1, 1.0);
  test::fill_normal(dout, 2, 1.0);
  const Pass plain = run(net, x, dout);
  // two conv+ReLU pairs; fc1's ReLU stays (a fully connected layer has no ReLU epilogue)
  CHECK(net.fuse_relu() == 2);
  CHECK(net.relu_fused(size_t(net.index_of("relu1"))));
  CHECK(!net.relu_fused(size_t(net.index_of("relu3"))));
  CHECK(net.fuse_relu() == 0);  // (once is enough)
  const Pass fused = run(net, x, dout);
  CHECK(same_bits(fused.out, plain.out));
  REQUIRE(fused.grads.size() == plain.grads.size());
  for (size_t k = 0; k < plain.grads.size(); ++k) CHECK(same_bits(fused.grads[k], plain.grads[k]));
  // the ReLU's output is the convolution's, rectified
  const size_t c1 = size_t(net.index_of("conv1")), r1 = size_t(net.index_of("relu1"));
  CHECK(net.activation(c1).data() == net.activation(r1).data());
  float lowest = 0;
  for (float v : net.activation(c1)) lowest = std::min(lowest, v);
  CHECK(lowest == 0.0f);
  // a forward from the fused ReLU (a cut) applies it to whatever it is given
  Tensor<float> raw(Shape{2, 6, 12, 12});
  test::fill_normal(raw, 4, 1.0);
  const Tensor<float> from_cut = clone(net.forward(raw, r1));
  net.fuse_relu(false);
  CHECK(!net.relu_fused(r1));
  const Tensor<float> want = clone(net.forward(raw, r1));
  CHECK(same_bits(from_cut, want));
  // and unfused again it is the plain network
  const Pass again = run(net, x, dout);
  CHECK(same_bits(again.out, plain.out));
  CHECK(net.activation(c1).data() != net.activation(r1).data());
  for (size_t k = 0; k < plain.grads.size(); ++k) CHECK(same_bits(again.grads[k], plain.grads[k]));
}

TEST_CASE("fuse_relu: a convolution read by two nodes keeps its output; VGG16 fuses its 15 pairs", "[graph]") {
  nn::Network<float> net(Shape{2, 8, 8});
  net.conv("conv1", 4, 3, 1, 1).relu("relu1");
  net.from("conv1").conv("conv2", 4, 3, 1, 1);
  net.sum("sum", {"relu1", "conv2"});
  CHECK(net.fuse_relu() == 0);  // conv1's output is also conv2's input: not rectified in place
  nn::VggOptions vo;
  vo.width = 1.0 / 16;
  vo.input = 32;
  auto vgg = nn::vgg16<float, CPU>(3, vo);
  CHECK(vgg->fuse_relu() == 15);  // 13 conv+ReLU, and relu6/relu7 into drop6/drop7
  vgg->initialize(1);
  vgg->set_training(false);
  auto ref = nn::vgg16<float, CPU>(3, vo);
  ref->initialize(1);
  ref->set_training(false);
  Tensor<float> x(Shape{2, 3, 32, 32});
  test::fill_normal(x, 7, 1.0);
  CHECK(same_bits(clone(vgg->forward(x)), clone(ref->forward(x))));
}

TEST_CASE("fuse_relu: a ReLU into the dropout reading it equals the unfused pair bit for bit", "[graph]") {
  auto make = [] {
    auto net = std::make_unique<nn::Network<float>>(Shape{3, 6, 6});
    net->conv("conv1", 4, 3, 1, 1).max_pool("pool", 2, 2).fc("fc1", 40).relu("relu1").dropout(0.4f, "drop1");
    net->fc("fc2", 3);
    net->initialize(5);
    net->unfreeze_all();
    net->set_training(true);
    return net;
  };
  auto plain = make(), fused = make();
  CHECK(fused->fuse_relu() == 1);  // conv1 has no ReLU; fc1's ReLU goes into drop1
  const size_t r1 = size_t(fused->index_of("relu1")), f1 = size_t(fused->index_of("fc1"));
  const size_t d1 = size_t(fused->index_of("drop1"));
  CHECK(fused->relu_fused(r1));
  Tensor<float> x(Shape{3, 3, 6, 6}), dout(Shape{3, 3});
  test::fill_normal(x, 11, 1.0);
  test::fill_normal(dout, 12, 1.0);
  for (int step = 0; step < 2; ++step) {  // two masks
    INFO("step " << step);
    const Pass a = run(*plain, x, dout), b = run(*fused, x, dout);
    CHECK(same_bits(b.out, a.out));
    for (size_t k = 0; k < a.grads.size(); ++k) CHECK(same_bits(b.grads[k], a.grads[k]));
    CHECK(same_bits(clone(fused->activation(d1)), clone(plain->activation(d1))));
    // while training the ReLU is a view of fc1's output, negatives and all
    CHECK(fused->activation(r1).data() == fused->activation(f1).data());
  }
  bool negative = false;
  for (float v : fused->activation(r1)) negative = negative || v < 0;
  CHECK(negative);
  // a forward from a cut at the dropout, given unrectified values, still rectifies them
  Tensor<float> raw(Shape{3, 40});
  test::fill_normal(raw, 13, 1.0);
  CHECK(same_bits(clone(fused->forward(raw, d1)), clone(plain->forward(raw, r1))));  // (the same mask step)
  // in evaluation the ReLU computes its own output (activation() is rectified) and the
  // network equals the plain one
  plain->set_training(false);
  fused->set_training(false);
  CHECK(same_bits(clone(fused->forward(x)), clone(plain->forward(x))));
  CHECK(fused->activation(r1).data() != fused->activation(f1).data());
  CHECK(same_bits(clone(fused->activation(r1)), clone(plain->activation(r1))));
  fused->fuse_relu(false);
  CHECK(!fused->relu_fused(r1));
  fused->set_training(true);
  plain->set_training(true);
  const Pass a = run(*plain, x, dout), b = run(*fused, x, dout);
  CHECK(same_bits(b.out, a.out));
  CHECK(fused->activation(r1).data() != fused->activation(f1).data());
}
