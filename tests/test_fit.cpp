// [network]: fit runs stages, evaluates before training and after each epoch, and learns.
#include <catch2/catch.hpp>

#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"

using namespace graft;

namespace {
// Two classes of n 8x8 images: the mean of channel 0 (+-shift) tells them apart.
void separable(int n, uint64_t seed, float shift, Tensor<float>& images, Tensor<int32_t>& labels) {
  images.resize(Shape{n, 1, 8, 8});
  labels.resize(Shape{n});
  test::fill_normal(images, seed, 0.5);
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 2;
    for (int p = 0; p < 64; ++p) images[i * 64 + p] += labels[i] ? shift : -shift;
  }
}
}  // namespace

TEST_CASE("fit: stages, epoch-0 evaluation, learning on a separable problem", "[network]") {
  const int n = 64;
  Tensor<float> images;
  Tensor<int32_t> labels;
  separable(n, 1, 1.0f, images, labels);
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

TEST_CASE("fit: cache_once caches below every stage once, and trains as the per-stage cache does", "[network]") {
  Tensor<float> images;
  Tensor<int32_t> labels;
  separable(48, 3, 0.5f, images, labels);
  // conv1 stays frozen; fc2 learns in the second stage, fc3 in both.
  auto run = [&](bool once, std::vector<size_t>& boundaries, std::vector<int64_t>& cached) {
    nn::Network<float> net(Shape{1, 8, 8});
    net.conv("conv1", 4, 3, 1, 1).relu().max_pool("pool1", 2, 2).fc("fc2", 8).relu().fc("fc3", 2);
    net.initialize(4);
    train::Adam<float, CPU> adam({0.01f});
    train::Trainer<CPU> trainer(net, adam);
    train::TensorSource tr(images, labels, 16, 9), ev(images, labels, 32);
    train::FitOptions o;
    o.stages = train::parse_stages("fc3:2,fc2:2:0.5");
    o.cache_once = once;
    o.on_epoch = [&](const train::EpochRecord& r, const train::Evaluation*, const train::Evaluation*) {
      boundaries.push_back(trainer.cache_boundary());
      cached.push_back(r.cached_batches);
    };
    return train::fit(trainer, tr, &ev, &ev, 2, o);
  };
  std::vector<size_t> b_each, b_once;
  std::vector<int64_t> c_each, c_once;
  const auto each = run(false, b_each, c_each), once = run(true, b_once, c_once);
  const size_t fc2 = 3, fc3 = 5;  // conv1 relu pool1 | fc2 relu | fc3
  CHECK(b_each == std::vector<size_t>{fc3, fc3, fc3, fc2, fc2});
  CHECK(b_once == std::vector<size_t>{fc2, fc2, fc2, fc2, fc2});
  // Epoch 1 fills the cache in both runs; with cache_once epoch 3 reads it, per stage it refills.
  CHECK(c_each == std::vector<int64_t>{0, 0, 3, 0, 3});
  CHECK(c_once == std::vector<int64_t>{0, 0, 3, 3, 3});
  REQUIRE(each.size() == once.size());
  for (size_t e = 0; e < each.size(); ++e) {
    INFO("epoch " << e);
    CHECK(once[e].loss == Approx(each[e].loss).epsilon(1e-5));
    CHECK(once[e].val_accuracy == each[e].val_accuracy);
  }
}
