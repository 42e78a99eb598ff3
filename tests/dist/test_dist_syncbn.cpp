// [dist]: synchronised BatchNorm (Trainer::Options::sync_batchnorm, the trainers' --sync-bn)
// with 2 real MPI processes. A small residual network with BatchNorm, trained K steps on 2
// ranks with synchronised statistics, holds the parameters and running statistics of the
// same network trained by 1 process on the whole batches: to float rounding (relative 1e-5
// of each tensor's scale; measured 3e-7: the statistics' and gradients' sums are split
// in two partial sums, and BatchNorm's normalisation divides by a batch's spread). Without
// synchronisation each rank normalises its share alone, and the parameters differ by far
// more (> 1e-3), so the option is what makes them agree. The data leave one rank's share of
// the last batch empty: that rank joins every BatchNorm's sums with zeros, and nothing hangs.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <memory>

#include "dist/world.hpp"
#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"
#include "support/skip.hpp"

using namespace graft;

namespace {

// n images (3, 8, 8) of three classes (the brighter channel, plus noise), on a large offset
// so that BatchNorm's statistics matter.
void bright_channel(int n, uint64_t seed, Tensor<float>& images, Tensor<int32_t>& labels) {
  images.resize(Shape{n, 3, 8, 8});
  labels.resize(Shape{n});
  test::fill_normal(images, seed, 1.0);
  for (int i = 0; i < n; ++i) {
    labels[i] = int32_t((i * 5 + 1) % 3);
    for (int p = 0; p < 64; ++p) images[(i * 3 + labels[i]) * 64 + p] += 0.8f;
  }
  for (auto& v : images) v = v * 2.0f + 3.0f;
}

// conv1 -> bn1 -> relu1 -> conv2 -> bn2 -> (+ relu1) -> relu -> global pool -> fc. The
// convolutions have no bias, as in a ResNet: BatchNorm cancels a bias, whose gradient is
// then rounding noise alone, which no two summation orders share.
std::unique_ptr<nn::Network<float>> bn_residual_net(uint64_t seed) {
  auto net = std::make_unique<nn::Network<float>>(Shape{3, 8, 8});
  net->conv("conv1", 4, 3, 1, 1, false).batch_norm("bn1").relu("relu1");
  net->conv("conv2", 4, 3, 1, 1, false).batch_norm("bn2");
  net->sum("res", {"bn2", "relu1"}).relu("relu2").global_avg_pool("gap").fc("fc", 3);
  net->initialize(seed);
  return net;
}

// max over parameters and buffers of |a - b| / max(|b|_inf, 1e-6).
double state_difference(nn::Network<float>& a, nn::Network<float>& b) {
  double worst = 0;
  auto pa = a.params(), pb = b.params();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, test::max_rel_error(pa[i].param->value, pb[i].param->value, 1e-6));
  for (size_t l = 0; l < a.size(); ++l) {
    auto ba = a.layer(l).buffers(), bb = b.layer(l).buffers();
    REQUIRE(ba.size() == bb.size());
    for (size_t i = 0; i < ba.size(); ++i)
      worst = std::max(worst, test::max_rel_error(*ba[i].tensor, *bb[i].tensor, 1e-6));
  }
  return worst;
}

// Whether every rank holds bit-identical parameters and buffers.
bool same_state_on_every_rank(dist::Communicator& c, nn::Network<float>& net) {
  uint64_t h = 1;
  auto mix = [&h](const Tensor<float>& t) {
    for (float v : t) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      h = random::bits(h, u);
    }
  };
  for (auto& np : net.params()) mix(np.param->value);
  for (size_t l = 0; l < net.size(); ++l)
    for (auto& b : net.layer(l).buffers()) mix(*b.tensor);
  const auto all = dist::allgather_value(c, h, "the networks' hashes");
  for (uint64_t v : all)
    if (v != all[0]) return false;
  return true;
}

}  // namespace

TEST_CASE("[dist] sync BatchNorm: 2 ranks with --sync-bn hold 1 rank's network; without it they do not", "[dist]") {
  dist::MpiCommunicator& w = test::world();
  if (w.size() < 2) GRAFT_SKIP("the [dist] tests need 2 ranks: mpirun -np 2 --oversubscribe test_dist_mpi");
  Tensor<float> images;
  Tensor<int32_t> labels;
  bright_channel(49, 13, images, labels);  // 49 = 6 x 8 + 1: one rank's share of the last batch is empty
  const int64_t B = 8;
  const uint64_t epochs = 3;               // K = 21 steps
  train::SgdOptions so{0.05f, 0.9f, 1e-4f, false};
  auto alone = bn_residual_net(7);
  train::Sgd<float, CPU> sgd1(so);
  train::Trainer<CPU> t1(*alone, sgd1);
  train::TensorSource whole(images, labels, B, 5);
  std::vector<train::EpochStats> ref;
  for (uint64_t e = 1; e <= epochs; ++e) ref.push_back(t1.train_epoch(whole, e));
  double diff[2] = {0, 0};
  for (const bool sync : {true, false}) {
    INFO((sync ? "synchronised BatchNorm" : "BatchNorm per rank's share"));
    auto both = bn_residual_net(7);
    train::Sgd<float, CPU> sgd2(so);
    train::Trainer<CPU>::Options o;
    o.comm = &w;
    o.bucket_bytes = 128;  // several buckets, started between the BatchNorms' backward sums
    o.sync_batchnorm = sync;
    train::Trainer<CPU> t2(*both, sgd2, o);
    CHECK(t2.synced_layers() == (sync ? 2u : 0u));
    train::TensorSource mine(images, labels, B, 5, dist::Shard(w.rank(), w.size()));
    for (uint64_t e = 1; e <= epochs; ++e) {
      const train::EpochStats s = t2.train_epoch(mine, e);
      CHECK(s.images == 49);
      if (sync) CHECK(s.loss == Approx(ref[e - 1].loss).epsilon(1e-4));
    }
    if (sync) {
      // Per step: 2 BatchNorms x (2 forward sums + 1 backward sum), the empty share's too.
      CHECK(t2.batchnorm_sync()->calls() == int64_t(epochs) * 7 * 6);
      CHECK(t2.gradient_sync()->started_during_backward() > 0);
    }
    diff[sync ? 0 : 1] = state_difference(*both, *alone);
    CHECK(same_state_on_every_rank(w, *both) == sync);  // per share, the running statistics differ
  }
  std::printf("[dist] rank %d: %d steps, max relative difference to one process: %.3g with --sync-bn, %.3g without\n",
              w.rank(), int(epochs) * 7, diff[0], diff[1]);
  CHECK(diff[0] < 1e-5);
  CHECK(diff[1] > 1e-3);
}
