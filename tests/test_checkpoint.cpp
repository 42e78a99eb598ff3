// [checkpoint]: resuming from a checkpoint gives the same numbers as not stopping; a
// non-finite loss stops training and leaves the last good checkpoint.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>

#include "graft/cpu.hpp"
#include "graft/io/npz.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"

using namespace graft;

namespace {
struct Fixture {
  Tensor<float> images{Shape{48, 3, 32, 32}};
  Tensor<int32_t> labels{Shape{48}};
  std::string dir;
  Fixture() {
    test::fill_normal(images, 3, 30.0);
    for (int i = 0; i < 48; ++i) labels[i] = (i * 7) % 3;
    char t[] = "/tmp/graft-ckpt-XXXXXX";
    dir = mkdtemp(t);
  }
  ~Fixture() { std::system(("rm -rf '" + dir + "'").c_str()); }
};

std::unique_ptr<nn::Network<float>> make_net() {
  auto net = nn::vgg16<float>(3, {0.125, 32, 0.5f});  // dropout on: its stream must resume too
  net->initialize(11);
  return net;
}

train::FitOptions options(const std::string& ckpt) {
  train::FitOptions o;
  o.stages = train::parse_stages("fc8:2,conv5_1:2:0.5");
  o.checkpoint = ckpt;
  o.seed = 11;
  return o;
}

// Straight through 4 epochs, against stopping after epoch 3 (inside the second stage) and
// resuming with fresh objects (a new network with other initial weights, optimizer, trainer).
// tol 0: everything bit for bit. Otherwise the learning curve within tol (relative) and every
// weight within weight_tol (absolute: Adam's step, m / sqrt(v), turns rounding in a near-zero
// gradient into a visible change of the weight, so weights move apart faster than the losses do).
void resume_matches(bool cache, double tol, double weight_tol = 0) {
  Fixture f;
  typename train::Trainer<CPU>::Options to;
  to.use_cache = cache;
  auto a = make_net();
  train::Adam<float, CPU> oa;
  train::Trainer<CPU> ta(*a, oa, to);
  train::TensorSource sa(f.images, f.labels, 16, 21), ea(f.images, f.labels, 24);
  auto ha = train::fit(ta, sa, &ea, &ea, 3, options(f.dir + "/a.npz"));
  {
    auto b = make_net();
    train::Adam<float, CPU> ob;
    train::Trainer<CPU> tb(*b, ob, to);
    train::TensorSource sb(f.images, f.labels, 16, 21), eb(f.images, f.labels, 24);
    auto o = options(f.dir + "/b.npz");
    o.last_epoch = 3;
    train::fit(tb, sb, &eb, &eb, 3, o);
  }
  auto c = make_net();
  c->initialize(999);
  train::Adam<float, CPU> oc;
  train::Trainer<CPU> tc(*c, oc, to);
  train::TensorSource sc(f.images, f.labels, 16, 21), ec(f.images, f.labels, 24);
  auto o = options(f.dir + "/b.npz");
  o.resume = true;
  auto hc = train::fit(tc, sc, &ec, &ec, 3, o);

  REQUIRE(ha.size() == 5);
  REQUIRE(hc.size() == 5);
  auto close = [&](double x, double y) { return std::abs(x - y) <= tol * std::max(1.0, std::abs(y)); };
  for (size_t i = 0; i < ha.size(); ++i) {
    INFO("epoch " << ha[i].epoch);
    CHECK(hc[i].epoch == ha[i].epoch);
    CHECK(hc[i].stage == ha[i].stage);  // the resumed epochs 1-3 too
    INFO("loss " << hc[i].loss << " against " << ha[i].loss);
    CHECK(close(hc[i].loss, ha[i].loss));
    CHECK(close(hc[i].val_accuracy, ha[i].val_accuracy));
  }
  auto pa = a->params(), pc = c->params();
  REQUIRE(pa.size() == pc.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    if (tol == 0) {
      bool same = true;
      for (int64_t k = 0; k < pa[i].param->value.size(); ++k) same = same && pa[i].param->value[k] == pc[i].param->value[k];
      CHECK(same);
    } else {
      // Adam moves a weight by about lr per step whatever the gradient's size (m / sqrt(v)),
      // so where rounding flips a near-zero gradient the runs part by up to ~lr per step of
      // the resumed epoch (3 steps at lr 1e-3 x 0.5): a small bias vector then differs by a
      // large fraction of its largest value. The bound is on that per-element distance;
      // a resume that lost the optimizer's state or the stream moves the weights by far more.
      const Tensor<float>& x = pc[i].param->value;
      const Tensor<float>& y = pa[i].param->value;
      double worst = 0;
      for (int64_t k = 0; k < y.size(); ++k) worst = std::max(worst, double(std::abs(x[k] - y[k])));
      INFO("largest difference " << worst << ", relative " << test::max_rel_error(x, y));
      CHECK(worst < weight_tol);
    }
  }
}

}  // namespace

TEST_CASE("Resuming from a checkpoint equals not stopping, bit for bit", "[checkpoint]") {
  resume_matches(false, 0.0);
}

// With the feature cache, the resumed run recomputes in epoch 4 the features the straight run
// cached in epoch 3, from other batches; OpenBLAS may round a sample differently depending on
// its batch (about 1e-7), so the runs agree to rounding, not bit for bit: measured on a Zen 3
// with 2 threads, the epoch-4 loss 1.6e-4 apart and weights up to 1.9e-3 (Adam's steps of
// ~lr on near-zero gradients; see resume_matches), hence 1e-3 and 5e-3.
TEST_CASE("Resuming from a checkpoint with the feature cache equals not stopping to rounding", "[checkpoint][cache]") {
  resume_matches(true, 1e-3, 5e-3);
}

TEST_CASE("A non-finite loss stops training and keeps the last good checkpoint", "[checkpoint]") {
  Fixture f;
  auto net = make_net();
  train::Sgd<float, CPU> sgd({0.01f});
  train::Trainer<CPU> t(*net, sgd);
  train::TensorSource s(f.images, f.labels, 16, 5), e(f.images, f.labels, 24);
  auto o = options(f.dir + "/c.npz");
  o.last_epoch = 1;
  train::fit(t, s, &e, &e, 3, o);
  std::ifstream before(f.dir + "/c.npz", std::ios::binary);
  std::string good((std::istreambuf_iterator<char>(before)), std::istreambuf_iterator<char>());
  REQUIRE(!good.empty());
  // Poison the head: the next forward gives NaN logits.
  net->find("fc8").params()[0]->value[0] = std::numeric_limits<float>::quiet_NaN();
  o.resume = false;
  o.last_epoch = 4;
  CHECK_THROWS_AS(train::fit(t, s, &e, &e, 3, o), train::NonFiniteLoss);
  CHECK_THROWS_WITH(train::fit(t, s, &e, &e, 3, o), Catch::Contains("the loss is nan") && Catch::Contains("last good checkpoint is kept"));
  std::ifstream after(f.dir + "/c.npz", std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(after)), std::istreambuf_iterator<char>());
  CHECK(kept == good);
  auto arrays = io::read_npz(f.dir + "/c.npz");  // still a whole, readable checkpoint
  CHECK(arrays.size() > 30);
}

TEST_CASE("Loading a checkpoint into another architecture names the mismatch", "[checkpoint]") {
  Fixture f;
  auto net = make_net();
  train::Adam<float, CPU> opt;
  train::CheckpointState st;
  st.epoch = 2;
  train::save_checkpoint(f.dir + "/d.npz", *net, opt, st);
  auto other = nn::vgg16<float>(2, {0.125, 32, 0.5f});
  CHECK_THROWS_WITH(train::load_checkpoint(f.dir + "/d.npz", *other, opt),
                    Catch::Contains("fc8/weights has shape (3, 512)") && Catch::Contains("expects (2, 512)"));
  auto loaded = make_net();
  loaded->initialize(5);
  CHECK(train::load_checkpoint(f.dir + "/d.npz", *loaded, opt).epoch == 2);
  CHECK(loaded->find("conv1_1").params()[0]->value[3] == net->find("conv1_1").params()[0]->value[3]);
}
