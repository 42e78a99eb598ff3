// [network] [freeze]: the builder, VGG geometry, whole-network gradients, freezing and
// backward pruning.
#include <catch2/catch.hpp>

#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using test::fill_normal;

namespace {
std::unique_ptr<nn::Network<double>> small_net() {
  auto net = std::make_unique<nn::Network<double>>(Shape{2, 8, 8});
  net->conv("conv1", 3, 3, 1, 1).relu().max_pool("pool1", 2, 2);
  net->conv("conv2", 4, 3, 1, 1).relu().max_pool("pool2", 2, 2);
  net->fc("fc3", 5).relu().dropout(0.5f).fc("fc4", 3);
  net->initialize(17);
  return net;
}
}  // namespace

TEST_CASE("Network builder: names, shapes, summary and errors", "[network]") {
  auto net = small_net();
  CHECK(net->size() == 10);
  CHECK(net->layer(1).name() == "relu1");
  CHECK(net->layer(8).name() == "drop3");
  CHECK(net->output_shape() == Shape({1, 3}));
  CHECK(net->shape_after(net->index_of("pool2")) == Shape({1, 4, 2, 2}));
  const std::string s = net->summary();
  CHECK(s.find("conv2") != std::string::npos);
  CHECK(s.find("(1, 4, 4, 4)") != std::string::npos);
  CHECK_THROWS_WITH(net->fc("fc3", 2), Catch::Contains("already exists"));
  CHECK_THROWS_WITH(net->conv("conv9", 4, 3), Catch::Contains("conv9 (Conv2d)") && Catch::Contains("expected an NCHW input"));
  CHECK_THROWS_WITH(net->find("conv7"), Catch::Contains("no node named 'conv7'") && Catch::Contains("conv1, relu1"));
  nn::Network<float> tiny(Shape{3, 4, 4});
  tiny.conv("c1", 2, 3).max_pool("p1", 2, 2);
  CHECK_THROWS_WITH(tiny.conv("c2", 2, 3), Catch::Contains("c2 (Conv2d)") && Catch::Contains("smaller than the 3x3 kernel"));
  Tensor<float> wrong(Shape{2, 4, 4, 4}, 1.0f);
  CHECK_THROWS_WITH(tiny.forward(wrong), Catch::Contains("(2, 4, 4, 4)") && Catch::Contains("expected (2, 3, 4, 4)"));
}

TEST_CASE("VGG16 geometry: VGG-Face parameter count and the reduced variant", "[network]") {
  auto face = nn::vgg_face<float>();
  CHECK(face->size() == 13 * 2 + 5 + 3 + 2 + 2);  // conv+relu, pools, fc6/7/8, relu6/7, drop6/7
  CHECK(face->shape_after(face->index_of("pool5")) == Shape({1, 512, 7, 7}));
  CHECK(face->output_shape() == Shape({1, 2622}));
  CHECK(face->parameter_count() == 145002878);  // VGG-Face's published size
  CHECK(face->find("fc6").input_shape() == Shape({1, 512, 7, 7}));
  auto small = nn::vgg16<float>(2, {0.25, 64, 0.5f});
  CHECK(small->shape_after(small->index_of("conv1_1")) == Shape({1, 16, 64, 64}));
  CHECK(small->shape_after(small->index_of("pool5")) == Shape({1, 128, 2, 2}));
  CHECK(small->shape_after(small->index_of("fc7")) == Shape({1, 1024}));
  CHECK(small->output_shape() == Shape({1, 2}));
  CHECK_THROWS_WITH(nn::vgg16<float>(2, {1.0, 16, 0.5f}), Catch::Contains("too small"));
}

TEST_CASE("Network gradients match finite differences through the whole chain", "[network][gradcheck]") {
  auto net = small_net();
  net->set_training(true);  // dropout on, mask replayed for each evaluation
  Tensor<double> x(Shape{3, 2, 8, 8});
  fill_normal(x, 5);
  Tensor<int32_t> labels(Shape{3});
  labels[0] = 2; labels[1] = 0; labels[2] = 1;
  Context<CPU> ctx;
  SoftmaxCrossEntropy<double> loss;
  loss.setup(ctx);
  auto& drop = dynamic_cast<Dropout<double>&>(net->find("drop3"));
  auto eval = [&]() {
    drop.set_step(0);
    return loss.forward(net->forward(x), labels);
  };
  eval();
  Tensor<double> dz;
  loss.backward(labels, dz);
  for (auto& np : net->params()) {
    np.param->grad.resize(np.param->value.shape());
    poison(np.param->grad);
  }
  net->backward(dz);
  for (auto& np : net->params()) {
    Tensor<double>& v = np.param->value;
    const Tensor<double> numeric = test::numeric_gradient(v, eval, 1e-6);
    const double err = test::grad_error(np.param->grad, numeric);
    INFO(np.name << " gradient error " << err);
    CHECK(err < 1e-6);
  }
}

TEST_CASE("Freezing: frozen parameters get no gradient, backward stops at the lowest learner", "[freeze]") {
  auto net = small_net();
  Tensor<double> x(Shape{2, 2, 8, 8});
  fill_normal(x, 6);
  Tensor<double> dout(Shape{2, 3});
  fill_normal(dout, 7);
  for (auto& np : net->params()) {
    np.param->grad.resize(np.param->value.shape());
    poison(np.param->grad);
  }

  net->freeze_all();
  net->unfreeze("fc4");
  CHECK(net->lowest_learning_layer() == net->index_of("fc4"));
  net->forward(x);
  CHECK(net->backward(dout) == 1);  // fc4 alone: nothing below it runs
  const auto& counts = net->backward_counts();
  for (size_t i = 0; i < net->size(); ++i) CHECK(counts[i] == (i == size_t(net->index_of("fc4")) ? 1u : 0u));
  CHECK(!std::isnan(net->find("fc4").params()[0]->grad[0]));
  CHECK(std::isnan(net->find("fc3").params()[0]->grad[0]));  // untouched
  CHECK(std::isnan(net->find("conv1").params()[0]->grad[0]));

  net->unfreeze_from("conv2");
  CHECK(!net->learns("conv1"));
  CHECK(net->learns("conv2"));
  CHECK(net->learns("fc3"));
  net->forward(x);
  CHECK(net->backward(dout) == net->size() - size_t(net->index_of("conv2")));
  CHECK(counts[size_t(net->index_of("conv1"))] == 0);
  CHECK(counts[size_t(net->index_of("relu1"))] == 0);
  CHECK(counts[size_t(net->index_of("pool1"))] == 0);
  CHECK(counts[size_t(net->index_of("conv2"))] == 1);
  CHECK(std::isnan(net->find("conv1").params()[0]->grad[0]));
  CHECK(!std::isnan(net->find("conv2").params()[0]->grad[0]));

  net->freeze_all();
  net->forward(x);
  CHECK(net->backward(dout) == 0);
  net->set_lr_mult("fc4", 10.0f, 20.0f);
  CHECK(net->find("fc4").params()[0]->lr_mult == 10.0f);
  CHECK(net->find("fc4").params()[1]->lr_mult == 20.0f);
}
