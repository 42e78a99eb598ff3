// [cache]: training the head from cached features gives what recomputing the frozen prefix
// gives, in memory and spilled to a file: equal up to float rounding (relative 1e-5), since
// an image's features computed in another batch may differ in the last bits (OpenBLAS and
// Winograd block their products by the batch: measured ~1e-7 relative here).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/feature_cache.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/trainer.hpp"
#include "support/random_fill.hpp"

using namespace graft;

namespace {
std::unique_ptr<nn::Network<float>> head_net() {
  auto net = nn::vgg16<float>(3, {0.125, 32, 0.5f});
  net->initialize(3);
  return net;
}

struct Data {
  Tensor<float> images{Shape{40, 3, 32, 32}};
  Tensor<int32_t> labels{Shape{40}};
  Data() {
    test::fill_normal(images, 8, 20.0);
    for (int i = 0; i < 40; ++i) labels[i] = i % 3;
  }
};
}  // namespace

TEST_CASE("Cache boundary: below the first learner and below any dropout while training", "[cache]") {
  auto net = head_net();
  net->freeze_all();
  net->unfreeze("fc8");
  net->set_training(true);
  // drop6 makes fc7's input random while training: the cache stops below it.
  CHECK(nn::cache_boundary(*net) == size_t(net->index_of("drop6")));
  net->set_training(false);
  CHECK(nn::cache_boundary(*net) == size_t(net->index_of("fc8")));
  net->unfreeze_from("conv5_1");
  CHECK(nn::cache_boundary(*net) == size_t(net->index_of("conv5_1")));
  net->unfreeze_all();
  CHECK(nn::cache_boundary(*net) == 0);
}

namespace {
bool close(double a, double b, double tol = 1e-5) {
  return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b));
}
}  // namespace

TEST_CASE("Training fc8 from the cache equals recomputing the trunk", "[cache]") {
  Data data;
  for (size_t memory : {size_t(1) << 30, size_t(0)}) {  // in memory, then spilled to a file
    auto a = head_net(), b = head_net();
    for (auto* n : {a.get(), b.get()}) {
      n->freeze_all();
      n->unfreeze("fc8");
    }
    train::Adam<float, CPU> oa({1e-3f}), ob({1e-3f});
    train::Trainer<CPU>::Options with, without;
    with.cache_memory = memory;
    without.use_cache = false;
    train::Trainer<CPU> ta(*a, oa, with), tb(*b, ob, without);
    train::TensorSource sa(data.images, data.labels, 16, 5), sb(data.images, data.labels, 16, 5);
    for (int e = 0; e < 3; ++e) {
      auto ea = ta.train_epoch(sa, e), eb = tb.train_epoch(sb, e);
      INFO("epoch " << e << " loss " << ea.loss << " (cached) and " << eb.loss);
      CHECK(close(ea.loss, eb.loss));
      CHECK(ea.cached_batches == (e == 0 ? 0 : 3));
      CHECK(eb.cached_batches == 0);
    }
    auto& wa = a->find("fc8").params()[0]->value;
    auto& wb = b->find("fc8").params()[0]->value;
    CHECK(test::max_rel_error(wa, wb) < 1e-5);
    auto va = ta.evaluate(sa, 3), vb = tb.evaluate(sb, 3);
    CHECK(close(va.loss, vb.loss));
    CHECK(va.predicted == vb.predicted);
  }
}

TEST_CASE("FeatureCache stores, gathers and refuses what it lacks", "[cache]") {
  nn::FeatureCache<float> c(5, Shape{2, 3}, 0);  // spilled
  CHECK(c.spilled());
  float row[6] = {1, 2, 3, 4, 5, 6};
  c.put(3, row);
  CHECK(c.has(3));
  CHECK(!c.has(2));
  CHECK(c.cached() == 1);
  Tensor<float> out;
  c.gather({3, 3}, out);
  CHECK(out.shape() == Shape({2, 2, 3}));
  CHECK(out[7] == 2);
  CHECK_THROWS_WITH(c.get(1), Catch::Contains("sample 1 is not cached"));
  CHECK_THROWS_WITH(c.put(5, row), Catch::Contains("outside [0, 5)"));
}

TEST_CASE("FeatureCache: a shard keeps rows for its own samples only", "[cache]") {
  nn::FeatureCache<float> c(11, Shape{2}, size_t(1) << 20, "", dist::Shard(1, 3));  // samples 1, 4, 7, 10
  CHECK(c.bytes() == 4 * 2 * sizeof(float));
  const float a[2] = {1, 2}, b[2] = {3, 4};
  c.put(10, a);
  c.put(4, b);
  CHECK(c.has(10));
  CHECK(c.has(4));
  CHECK(!c.has(1));
  CHECK(!c.has(5));  // another rank's
  CHECK(c.get(10)[1] == 2);
  CHECK(c.get(4)[0] == 3);
  CHECK(!c.complete());
  c.put(1, a);
  c.put(7, b);
  CHECK(c.complete());
  CHECK_THROWS_WITH(c.put(5, a), Catch::Contains("sample 5 belongs to another rank than 1 of 3"));
}
