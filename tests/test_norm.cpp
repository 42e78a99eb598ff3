// [norm]: BatchNorm2d and Affine beyond their gradients (test_gradcheck) and PyTorch parity
// (test_torch): folding for inference, buffers versus parameters, freezing, shape errors, and
// the running statistics travelling through weights files and checkpoints.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "graft/cpu.hpp"
#include "graft/io/weights.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using test::fill_normal;
using test::fill_uniform;
using test::max_rel_error;

namespace {

// A BatchNorm2d with random gamma, beta and running statistics (variance in [0.2, 3]).
void randomize(BatchNorm2d<float>& bn, uint64_t seed) {
  fill_normal(bn.scale.value, seed, 0.8);
  fill_normal(bn.offset.value, seed + 1, 0.5);
  fill_normal(bn.running_mean, seed + 2, 0.7);
  fill_uniform(bn.running_var, seed + 3, 0.2, 3.0);
}

bool bit_equal(const Tensor<float>& a, const Tensor<float>& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i])) return false;
  return true;
}

// Runs f, which must throw graft::Error, and returns its message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("no graft::Error was thrown");
  return "";
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/graft-norm-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

}  // namespace

// Tolerance of the folding tests: the folded map rounds scale and offset to float once and
// computes x * s + o in float, the BatchNorm in double then rounds; 1e-5 of the output's
// scale covers a few float roundings (2^-24 ~ 6e-8 each) with room.
constexpr double kFoldTol = 1e-5;

TEST_CASE("BatchNorm2d::to_affine gives the evaluation output of the BatchNorm", "[norm]") {
  const Shape shapes[] = {Shape{3, 6, 5, 7}, Shape{4, 9}};
  for (const auto& s : shapes) {
    INFO("input " << s.str());
    Context<CPU> ctx;
    BatchNorm2d<float> bn("bn1", 0, 1e-3);
    bn.setup(s, ctx);
    randomize(bn, 1);
    Tensor<float> x(s), want, got;
    fill_normal(x, 5, 2.0);
    bn.forward(x, want);
    auto aff = bn.to_affine();
    CHECK(aff->name() == "bn1");
    CHECK(std::string(aff->type()) == "Affine");
    CHECK(aff->has_offset());
    got.resize(s);
    poison(got);
    aff->forward(x, got);
    CHECK(max_rel_error(got, want) < kFoldTol);
    // Added to a network (which sets it up again on its own context), it keeps its values.
    const std::vector<int64_t> dims = s.dims();
    nn::Network<float> net(Shape(std::vector<int64_t>(dims.begin() + 1, dims.end())));
    net.add(bn.to_affine());
    CHECK(max_rel_error(net.forward(x), want) < kFoldTol);
  }
}

TEST_CASE("BatchNorm2d::fold_into rewrites the convolution before it", "[norm]") {
  Context<CPU> ctx;
  const Shape in{2, 3, 9, 8};
  Conv2d<float> conv("conv1", 3, 5, 3, 1, 1);
  const Shape mid = conv.setup(in, ctx);
  fill_normal(conv.weights.value, 11, 0.3);
  fill_normal(conv.biases.value, 12, 0.5);
  BatchNorm2d<float> bn("bn1", 0);
  bn.setup(mid, ctx);
  randomize(bn, 13);
  Tensor<float> x(in), c, want, got;
  fill_normal(x, 14);
  conv.forward(x, c);
  bn.forward(c, want);
  bn.fold_into(conv);
  got.resize(want.shape());
  poison(got);
  conv.forward(x, got);
  CHECK(max_rel_error(got, want) < kFoldTol);

  SECTION("a convolution without bias, or with other channels, is an error naming both layers") {
    Conv2d<float> nobias("conv_nb", 3, 5, 3, 1, 1, /*bias=*/false);
    nobias.setup(in, ctx);
    const std::string m = error_of([&] { bn.fold_into(nobias); });
    CHECK(m.find("bn1 (BatchNorm2d)") != std::string::npos);
    CHECK(m.find("conv_nb") != std::string::npos);
    CHECK(m.find("no bias") != std::string::npos);
    Conv2d<float> other("conv_4", 3, 4, 3, 1, 1);
    other.setup(in, ctx);
    const std::string m2 = error_of([&] { bn.fold_into(other); });
    CHECK(m2.find("4 output channels, expected 5") != std::string::npos);
  }
}

TEST_CASE("BatchNorm2d lists its running statistics as buffers, never as parameters", "[norm]") {
  Context<CPU> ctx;
  BatchNorm2d<float> bn("bn", 0);
  bn.setup(Shape{2, 4, 3, 3}, ctx);
  auto params = bn.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0]->name == "scale");
  CHECK(params[1]->name == "offset");
  CHECK(params[1]->decay_mult == 0.0f);
  auto bufs = bn.buffers();
  REQUIRE(bufs.size() == 2);
  CHECK(bufs[0].name == "mean");
  CHECK(bufs[1].name == "variance");
  CHECK(bufs[0].tensor == &bn.running_mean);
  CHECK(bufs[1].tensor == &bn.running_var);
  for (auto* p : params) {
    CHECK(&p->value != bufs[0].tensor);
    CHECK(&p->value != bufs[1].tensor);
  }
  // Initial values: PyTorch's.
  for (int64_t c = 0; c < 4; ++c) {
    CHECK(bn.scale.value[c] == 1.0f);
    CHECK(bn.offset.value[c] == 0.0f);
    CHECK(bn.running_mean[c] == 0.0f);
    CHECK(bn.running_var[c] == 1.0f);
  }
  // A network's set_lr_mult treats "offset" as the bias.
  nn::Network<float> net(Shape{4, 3, 3});
  net.batch_norm("bn").affine("aff");
  net.set_lr_mult("bn", 2.0f, 3.0f);
  net.set_lr_mult("aff", 4.0f, 5.0f);
  auto& nbn = dynamic_cast<BatchNorm2d<float>&>(net.layer(0));
  auto& naff = dynamic_cast<Affine<float>&>(net.layer(1));
  CHECK(nbn.scale.lr_mult == 2.0f);
  CHECK(nbn.offset.lr_mult == 3.0f);
  CHECK(naff.scale.lr_mult == 4.0f);
  CHECK(naff.offset.lr_mult == 5.0f);
  CHECK(naff.offset.decay_mult == 0.0f);

  Affine<float> aff("aff", 0, /*offset=*/false);
  aff.setup(Shape{2, 4}, ctx);
  REQUIRE(aff.params().size() == 1);
  CHECK(aff.params()[0]->name == "scale");
  CHECK(aff.buffers().empty());
}

TEST_CASE("Running statistics change only in a training forward of a learning layer; freezing leaves them alone", "[norm]") {
  nn::Network<float> net(Shape{3, 6, 6});
  net.conv("conv1", 4, 3, 1, 1).batch_norm("bn1").relu().flatten().fc("fc", 2);
  net.initialize(3);
  auto& bn = dynamic_cast<BatchNorm2d<float>&>(net.layer(1));
  randomize(bn, 21);
  Tensor<float> x(Shape{4, 3, 6, 6}), dy(Shape{4, 2});
  fill_normal(x, 22, 2.0);
  fill_normal(dy, 23);
  const Tensor<float> mean0 = clone(bn.running_mean), var0 = clone(bn.running_var);

  // Freezing flips trainable only.
  net.freeze_through("bn1");
  CHECK_FALSE(bn.scale.trainable);
  CHECK_FALSE(bn.offset.trainable);
  CHECK(bit_equal(bn.running_mean, mean0));
  CHECK(bit_equal(bn.running_var, var0));

  // Evaluation forward and backward, and an optimizer step, keep them.
  net.set_training(false);
  net.forward(x);
  net.backward(dy);
  train::Sgd<float, CPU> sgd({0.1f, 0.9f, 0.01f, false});
  sgd.step(net.context(), net.params());
  CHECK(bit_equal(bn.running_mean, mean0));
  CHECK(bit_equal(bn.running_var, var0));

  // use_global_stats while training: fixed too (and the layer is deterministic).
  net.set_training(true);
  bn.set_use_global_stats(true);
  CHECK(bn.deterministic());
  net.forward(x);
  net.backward(dy);
  CHECK(bit_equal(bn.running_mean, mean0));
  CHECK(bit_equal(bn.running_var, var0));

  // Frozen while training: the running statistics are used and kept (Keras' rule), so the
  // frozen part of a network is deterministic (the feature cache may hold what it computes).
  bn.set_use_global_stats(false);
  CHECK(bn.deterministic());
  net.forward(x);
  CHECK(bit_equal(bn.running_mean, mean0));
  CHECK(bit_equal(bn.running_var, var0));
  CHECK(nn::cache_boundary(net) > size_t(net.index_of("bn1")));

  // Opted out, or learning: a training forward moves them (PyTorch's rule); backward does not.
  for (int learning = 0; learning < 2; ++learning) {
    INFO((learning ? "unfrozen" : "frozen, set_frozen_uses_running_stats(false)"));
    randomize(bn, 24 + learning);
    const Tensor<float> mean_r = clone(bn.running_mean), var_r = clone(bn.running_var);
    bn.set_frozen_uses_running_stats(learning == 1);
    if (learning) net.unfreeze_all();
    CHECK_FALSE(bn.deterministic());
    net.forward(x);
    const Tensor<float> mean1 = clone(bn.running_mean), var1 = clone(bn.running_var);
    CHECK_FALSE(bit_equal(mean1, mean_r));
    CHECK_FALSE(bit_equal(var1, var_r));
    net.backward(dy);
    CHECK(bit_equal(bn.running_mean, mean1));
    CHECK(bit_equal(bn.running_var, var1));
  }
}

TEST_CASE("Bad shapes raise graft::Error naming the layer and both shapes", "[norm]") {
  Context<CPU> ctx;
  BatchNorm2d<float> bn("bn_shapes", 4);
  const std::string m = error_of([&] { bn.setup(Shape{2, 3, 5, 5}, ctx); });
  CHECK(m.find("bn_shapes (BatchNorm2d)") != std::string::npos);
  CHECK(m.find("4 channels") != std::string::npos);
  CHECK(m.find("(2, 3, 5, 5)") != std::string::npos);
  CHECK(error_of([&] { bn.setup(Shape{2, 4, 5}, ctx); }).find("(2, 4, 5)") != std::string::npos);

  bn.setup(Shape{2, 4, 5, 5}, ctx);
  Tensor<float> x(Shape{2, 4, 5, 5}), y, dx, dy(Shape{2, 4, 5, 6});
  fill_normal(x, 31);
  fill_normal(dy, 32);
  bn.forward(x, y);
  const std::string m2 = error_of([&] { bn.backward(x, y, dy, &dx); });
  CHECK(m2.find("bn_shapes (BatchNorm2d)") != std::string::npos);
  CHECK(m2.find("(2, 4, 5, 6)") != std::string::npos);
  CHECK(m2.find("(2, 4, 5, 5)") != std::string::npos);

  // One value per channel cannot be normalised by its own statistics.
  bn.set_training(true);
  Tensor<float> one(Shape{1, 4, 1, 1});
  fill_normal(one, 33);
  CHECK(error_of([&] { bn.forward(one, y); }).find("more than one value per channel") != std::string::npos);

  Affine<float> aff("aff_shapes", 3);
  const std::string m3 = error_of([&] { aff.setup(Shape{2, 5}, ctx); });
  CHECK(m3.find("aff_shapes (Affine)") != std::string::npos);
  CHECK(m3.find("3 channels") != std::string::npos);
  CHECK(m3.find("(2, 5)") != std::string::npos);
  CHECK(error_of([&] { aff.setup(Shape{2, 3, 4}, ctx); }).find("(2, 3, 4)") != std::string::npos);
}

namespace {
std::unique_ptr<nn::Network<float>> bn_net() {
  auto net = std::make_unique<nn::Network<float>>(Shape{3, 6, 6});
  net->conv("conv1", 4, 3, 1, 1).batch_norm("bn1").relu().affine("scale1").flatten().fc("fc", 3);
  net->initialize(5);
  return net;
}
BatchNorm2d<float>& bn_of(nn::Network<float>& net) { return dynamic_cast<BatchNorm2d<float>&>(net.layer(1)); }
}  // namespace

TEST_CASE("BatchNorm2d buffers go through save_weights/load_weights (npz) and checkpoints", "[norm][checkpoint]") {
  TempDir dir;
  auto a = bn_net();
  a->set_training(true);
  Tensor<float> x(Shape{4, 3, 6, 6});
  fill_normal(x, 41, 3.0);
  a->forward(x);  // running statistics away from (0, 1)
  fill_normal(dynamic_cast<Affine<float>&>(a->layer(3)).offset.value, 42, 0.5);
  BatchNorm2d<float>& bna = bn_of(*a);
  a->set_training(false);
  const Tensor<float> ya = clone(a->forward(x));

  SECTION("weights file") {
    const std::string path = dir.path + "/w.npz";
    nn::save_weights(a->layers(), path);
    const io::WeightsDict w = io::read_weights(path);
    CHECK((w.find("bn1") && w.find("bn1")->find("mean")));
    CHECK((w.find("bn1") && w.find("bn1")->find("variance")));
    CHECK((w.find("bn1") && w.find("bn1")->find("scale")));
    CHECK((w.find("bn1") && w.find("bn1")->find("offset")));
    CHECK((w.find("scale1") && w.find("scale1")->find("scale")));
    auto b = bn_net();
    b->initialize(77);
    nn::load_weights(b->layers(), path);
    CHECK(bit_equal(bn_of(*b).running_mean, bna.running_mean));
    CHECK(bit_equal(bn_of(*b).running_var, bna.running_var));
    b->set_training(false);
    CHECK(bit_equal(b->forward(x), ya));
  }
  SECTION("checkpoint") {
    const std::string path = dir.path + "/c.npz";
    train::Adam<float, CPU> oa;
    train::CheckpointState st;
    st.epoch = 2;
    train::save_checkpoint(path, *a, oa, st);
    auto b = bn_net();
    b->initialize(78);
    train::Adam<float, CPU> ob;
    const train::CheckpointState got = train::load_checkpoint(path, *b, ob);
    CHECK(got.epoch == 2);
    CHECK(bit_equal(bn_of(*b).running_mean, bna.running_mean));
    CHECK(bit_equal(bn_of(*b).running_var, bna.running_var));
    b->set_training(false);
    CHECK(bit_equal(b->forward(x), ya));
  }
}
