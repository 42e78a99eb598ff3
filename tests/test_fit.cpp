// [network]: fit runs stages, evaluates before training and after each epoch, and learns.
#include <catch2/catch.hpp>

#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"

using namespace graft;

TEST_CASE("fit: stages, epoch-0 evaluation, learning on a separable problem", "[network]") {
  // Two classes of 8x8 images: the mean of channel 0 tells them apart.
  const int n = 64;
  Tensor<float> images(Shape{n, 1, 8, 8});
  Tensor<int32_t> labels(Shape{n});
  test::fill_normal(images, 1, 0.5);
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 2;
    for (int p = 0; p < 64; ++p) images[i * 64 + p] += labels[i] ? 1.0f : -1.0f;
  }
  nn::Network<float> net(Shape{1, 8, 8});
  net.conv("conv1", 4, 3, 1, 1).relu().max_pool("pool1", 2, 2).fc("fc2", 8).relu().fc("fc3", 2);
  net.initialize(4);
  train::Adam<float, CPU> adam({0.01f});
  train::Trainer<CPU> trainer(net, adam);
  train::TensorSource tr(images, labels, 16, 9), ev(images, labels, 32);
  train::FitOptions o;
  o.stages = train::parse_stages("fc3:2,conv1:3:0.5");
  std::vector<std::string> seen;
  o.on_epoch = [&](const train::EpochRecord& r, const train::Evaluation* t, const train::Evaluation* v) {
    REQUIRE(t);
    REQUIRE(v);
    CHECK(t->confusion.count() == n);
    seen.push_back(std::to_string(r.epoch) + ":" + r.stage);
    // while fc3 alone learns, the conv layer is frozen
    if (r.stage == "fc3") CHECK(!net.learns("conv1"));
    if (r.stage == "conv1") CHECK(net.learns("conv1"));
  };
  auto hist = train::fit(trainer, tr, &ev, &ev, 2, o);
  REQUIRE(hist.size() == 6);
  CHECK(seen == std::vector<std::string>{"0:", "1:fc3", "2:fc3", "3:conv1", "4:conv1", "5:conv1"});
  CHECK(hist[0].epoch == 0);
  CHECK(hist.back().val_accuracy > 0.95);
  CHECK(hist.back().loss < hist[1].loss);
  CHECK(train::stage_of(o.stages, 3) == std::make_pair(1, 0));
  CHECK(train::stage_of(o.stages, 6) == std::make_pair(-1, -1));
  train::FitOptions bad = o;
  bad.stages = train::parse_stages("fc9:1");
  CHECK_THROWS_WITH(train::fit(trainer, tr, &ev, &ev, 2, bad), Catch::Contains("no node named 'fc9'"));
}
