// [dist]: data-parallel training over MPI with 2 real processes (CI: mpirun -np 2
// --oversubscribe). Every rank also trains the same network alone on the whole data, and the
// two must agree: after K steps, 2 ranks with global batch B hold the parameters of 1 rank
// with batch B, to float rounding (relative 1e-5 of each tensor's scale: the batch's gradient
// sum is split into two partial sums), and the 2 ranks hold bit-identical parameters (a sum
// of two numbers is the same either way round). Evaluations gathered from 2 ranks are one
// process's exactly (the same predictions in the same order). A 2-rank run resumed from a
// checkpoint, by 2 ranks or by 1, ends where an uninterrupted run ends.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "dist/world.hpp"
#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"
#include "support/skip.hpp"

using namespace graft;

namespace {

dist::MpiCommunicator& two_ranks() {
  dist::MpiCommunicator& w = test::world();
  if (w.size() < 2) GRAFT_SKIP("the [dist] tests need 2 ranks: mpirun -np 2 --oversubscribe test_dist_mpi");
  return w;
}

// n images (3, 8, 8) of three classes, told apart (with noise) by which channel is brighter.
void three_classes(int n, uint64_t seed, Tensor<float>& images, Tensor<int32_t>& labels) {
  images.resize(Shape{n, 3, 8, 8});
  labels.resize(Shape{n});
  test::fill_normal(images, seed, 1.0);
  for (int i = 0; i < n; ++i) {
    labels[i] = int32_t((i * 7 + 3) % 3);
    for (int p = 0; p < 64; ++p) images[(i * 3 + labels[i]) * 64 + p] += 0.7f;
  }
}

std::unique_ptr<nn::Network<float>> small_net(uint64_t seed, int64_t hidden = 8) {
  auto net = std::make_unique<nn::Network<float>>(Shape{3, 8, 8});
  net->conv("conv1", 4, 3, 1, 1).relu().max_pool("pool1", 2, 2).fc("fc2", hidden).relu().fc("fc3", 3);
  net->initialize(seed);
  return net;
}

// max over parameters of |a - b| / max(|b|_inf, 1e-6).
double param_difference(nn::Network<float>& a, nn::Network<float>& b) {
  auto pa = a.params(), pb = b.params();
  REQUIRE(pa.size() == pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i].name == pb[i].name);
    worst = std::max(worst, test::max_rel_error(pa[i].param->value, pb[i].param->value, 1e-6));
  }
  return worst;
}

uint64_t param_hash(nn::Network<float>& net) {
  uint64_t h = 1;
  for (auto& np : net.params())
    for (float v : np.param->value) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      h = random::bits(h, u);
    }
  return h;
}

// Whether every rank holds bit-identical parameters.
bool same_on_every_rank(dist::Communicator& c, nn::Network<float>& net) {
  const auto all = dist::allgather_value(c, param_hash(net), "the parameters' hashes");
  for (uint64_t h : all)
    if (h != all[0]) return false;
  return true;
}

std::vector<int64_t> cells(const train::Confusion& c) {
  std::vector<int64_t> v;
  for (int i = 0; i < c.classes(); ++i)
    for (int j = 0; j < c.classes(); ++j) v.push_back(c.at(i, j));
  return v;
}

// A folder every rank sees: rank 0's pid names it.
std::string shared_dir(dist::Communicator& c) {
  long long pid = ::getpid();
  c.broadcast(&pid, sizeof pid, 0, "the test folder's name");
  const std::string d = std::filesystem::temp_directory_path().string() + "/graft-dist-" + std::to_string(pid);
  std::filesystem::create_directories(d);
  c.barrier("the test folder");
  return d;
}

}  // namespace

TEST_CASE("[dist] training: 2 ranks with global batch B hold the parameters of 1 rank with batch B", "[dist]") {
  dist::MpiCommunicator& w = two_ranks();
  Tensor<float> images;
  Tensor<int32_t> labels;
  three_classes(53, 11, images, labels);  // 53: a last batch of 5, shares of unequal size
  const int64_t B = 8;
  for (const bool cached : {false, true}) {
    INFO((cached ? "the head alone learns, from sharded feature caches" : "every layer learns"));
    auto alone = small_net(7), both = small_net(7);
    if (cached) {
      alone->unfreeze_from("fc2");
      both->unfreeze_from("fc2");
    }
    train::SgdOptions so{0.05f, 0.9f, 1e-3f, false};
    train::Sgd<float, CPU> sgd1(so), sgd2(so);
    train::Trainer<CPU> t1(*alone, sgd1);
    train::Trainer<CPU>::Options o;
    o.comm = &w;
    o.bucket_bytes = 256;  // several buckets, started during backward
    train::Trainer<CPU> t2(*both, sgd2, o);
    train::TensorSource whole(images, labels, B, 5);
    train::TensorSource mine(images, labels, B, 5, dist::Shard(w.rank(), w.size()));
    for (uint64_t e = 1; e <= 4; ++e) {
      const train::EpochStats s1 = t1.train_epoch(whole, e), s2 = t2.train_epoch(mine, e);
      CHECK(s2.images == 53);
      CHECK(s2.running_accuracy == s1.running_accuracy);
      CHECK(s2.loss == Approx(s1.loss).epsilon(1e-5));
      if (cached && e > 1) CHECK(s2.cached_batches == s1.cached_batches);
    }
    CHECK(t2.gradient_sync()->buckets() >= (cached ? 2u : 3u));
    CHECK(t2.gradient_sync()->started_during_backward() > 0);  // communication overlapped backward
    const double diff = param_difference(*both, *alone);
    std::printf("[dist] rank %d, %s: 28 steps, max relative parameter difference to one process %.3g\n", w.rank(),
                cached ? "head from caches" : "all layers", diff);
    CHECK(diff < 1e-5);
    CHECK(same_on_every_rank(w, *both));
  }
}

TEST_CASE("[dist] evaluation: 2 ranks' gathered predictions are one process's", "[dist]") {
  dist::MpiCommunicator& w = two_ranks();
  Tensor<float> images;
  Tensor<int32_t> labels;
  three_classes(41, 12, images, labels);
  auto net = small_net(3);
  train::Trainer<CPU> alone(*net);
  train::Trainer<CPU>::Options o;
  o.comm = &w;
  train::Trainer<CPU> both(*net, o);
  for (const uint64_t shuffle : {uint64_t(0), uint64_t(9)}) {
    for (const bool mirror : {false, true}) {
      train::TensorSource whole(images, labels, 6, shuffle);
      train::TensorSource mine(images, labels, 6, shuffle, dist::Shard(w.rank(), w.size()));
      const train::Evaluation e1 = alone.evaluate(whole, 3, mirror), e2 = both.evaluate(mine, 3, mirror);
      CHECK(cells(e2.confusion) == cells(e1.confusion));
      CHECK(e2.indices == e1.indices);
      CHECK(e2.labels == e1.labels);
      CHECK(e2.predicted == e1.predicted);
      REQUIRE(e2.probabilities.size() == e1.probabilities.size());
      double worst = 0;
      for (size_t i = 0; i < e1.probabilities.size(); ++i)
        worst = std::max(worst, double(std::abs(e2.probabilities[i] - e1.probabilities[i])));
      CHECK(worst < 1e-6);
      CHECK(e2.loss == Approx(e1.loss).epsilon(1e-6));
    }
  }
}

TEST_CASE("[dist] fit: a 2-rank run resumed by 2 ranks or by 1 ends where an uninterrupted run ends", "[dist]") {
  dist::MpiCommunicator& w = two_ranks();
  Tensor<float> images, vimages;
  Tensor<int32_t> labels, vlabels;
  three_classes(45, 21, images, labels);
  three_classes(19, 22, vimages, vlabels);
  const dist::Shard shard(w.rank(), w.size());
  const std::string dir = shared_dir(w);
  train::FitOptions fo;
  fo.stages = train::parse_stages("fc3:2,conv1:2:0.5");
  fo.schedule = "cosine";
  // Runs the fit with `ranks` (the world or this process alone) from a fresh network.
  auto run = [&](bool distributed, const std::string& checkpoint, bool resume, int last,
                 std::unique_ptr<nn::Network<float>>& net) {
    net = small_net(5);
    train::Adam<float, CPU> adam({0.01f});
    train::Trainer<CPU>::Options o;
    if (distributed) o.comm = &w;
    train::Trainer<CPU> t(*net, adam, o);
    const dist::Shard s = distributed ? shard : dist::Shard();
    train::TensorSource tr(images, labels, 8, 3, s), te(images, labels, 16, 0, s), va(vimages, vlabels, 16, 0, s);
    train::FitOptions f = fo;
    f.checkpoint = checkpoint;
    f.resume = resume;
    f.last_epoch = last;
    return train::fit(t, tr, &te, &va, 3, f);
  };
  std::unique_ptr<nn::Network<float>> ref, split, resumed2, resumed1;
  const auto h_ref = run(false, "", false, -1, ref);
  const std::string ck = dir + "/checkpoint.npz";
  run(true, ck, false, 2, split);  // rank 0 writes the checkpoint after epochs 1 and 2
  CHECK(std::filesystem::exists(ck));
  w.barrier("the checkpoint written");
  const auto h2 = run(true, ck, true, -1, resumed2);
  // One process resumes the 2-rank checkpoint (a copy each, so that the ranks' writes do not meet).
  const std::string mine = dir + "/checkpoint-rank" + std::to_string(w.rank()) + ".npz";
  w.barrier("the resumed run's checkpoint written");
  std::filesystem::copy_file(ck, mine, std::filesystem::copy_options::overwrite_existing);
  const auto h1 = run(false, mine, true, -1, resumed1);
  for (const auto* h : {&h2, &h1}) {
    REQUIRE(h->size() == h_ref.size());
    for (size_t i = 0; i < h_ref.size(); ++i) {
      INFO("epoch " << h_ref[i].epoch);
      CHECK((*h)[i].epoch == h_ref[i].epoch);
      CHECK((*h)[i].stage == h_ref[i].stage);
      CHECK((*h)[i].train_accuracy == h_ref[i].train_accuracy);
      CHECK((*h)[i].val_accuracy == h_ref[i].val_accuracy);
      CHECK((*h)[i].loss == Approx(h_ref[i].loss).epsilon(1e-5));
    }
  }
  const double d2 = param_difference(*resumed2, *ref), d1 = param_difference(*resumed1, *ref);
  std::printf("[dist] rank %d: resumed by 2 ranks %.3g, by 1 rank %.3g from the uninterrupted run\n", w.rank(), d2, d1);
  CHECK(d2 < 1e-5);
  CHECK(d1 < 1e-5);
  CHECK(same_on_every_rank(w, *resumed2));
  w.barrier("the test folder's last use");
  if (w.rank() == 0) std::filesystem::remove_all(dir);
}

TEST_CASE("[dist] start-up: ranks with different networks or data are named", "[dist]") {
  dist::MpiCommunicator& w = two_ranks();
  Tensor<float> images;
  Tensor<int32_t> labels;
  three_classes(30, 1, images, labels);
  const dist::Shard shard(w.rank(), w.size());
  auto check = [&](uint64_t seed, int64_t hidden, int samples, const std::string& says) {
    auto net = small_net(seed, hidden);
    train::Adam<float, CPU> adam;
    train::Trainer<CPU>::Options o;
    o.comm = &w;
    train::Trainer<CPU> t(*net, adam, o);
    Tensor<float> im(Shape{samples, 3, 8, 8});
    Tensor<int32_t> lb(Shape{samples});
    std::copy(images.data(), images.data() + im.size(), im.data());
    std::copy(labels.data(), labels.data() + samples, lb.data());
    train::TensorSource src(im, lb, 8, 1, shard);
    if (says.empty()) {
      CHECK_NOTHROW(t.verify_same_setup({&src}));
    } else {
      CHECK_THROWS_WITH(t.verify_same_setup({&src}), Catch::Contains(says) && Catch::Contains("rank 0's"));
    }
  };
  const bool one = w.rank() == 1;
  check(4, 8, 30, "");
  check(one ? 5 : 4, 8, 30, "rank 1's parameter values");
  check(4, one ? 9 : 8, 30, "rank 1's network");
  check(4, 8, one ? 29 : 30, "rank 1's data");
  // A source that is not sharded for this rank is refused before anything runs.
  auto net = small_net(4);
  train::Adam<float, CPU> adam;
  train::Trainer<CPU>::Options o;
  o.comm = &w;
  train::Trainer<CPU> t(*net, adam, o);
  train::TensorSource whole(images, labels, 8);
  CHECK_THROWS_WITH(t.train_epoch(whole, 1), Catch::Contains("holds the samples of rank 0 of 1") &&
                                                 Catch::Contains("the trainer is rank " + std::to_string(w.rank())));
}

TEST_CASE("[dist] faults: a rank that hangs makes the other stop within the timeout, naming it", "[dist]") {
  dist::MpiCommunicator& w = two_ranks();
  {
    dist::MpiCommunicator c(1.5);  // its own collectives, timing out after 1.5 s
    for (int hung : {1, 0}) {
      const int other = 1 - hung;
      if (w.rank() == hung) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3000));
        c.barrier("the late barrier");  // the other rank's contribution is there: completes
      } else if (w.rank() == other) {
        const auto t0 = std::chrono::steady_clock::now();
        CHECK_THROWS_WITH(c.barrier("the late barrier"),
                          Catch::Contains("did not complete within 1.5 s") &&
                              Catch::Contains("rank " + std::to_string(hung) + " has not reached it"));
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        CHECK(s < 1.5 + 2.0);  // the timeout, and room for a loaded machine
      }
      w.barrier("the next fault");
    }
  }
  w.barrier("the end of the fault test");
}
