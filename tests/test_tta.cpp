// [network]: test-time augmentation. mirror_images reverses each row of an (n, c, h, w) batch;
// evaluate(..., mirror = true) gives, for every sample, the mean of the probabilities of its
// image and of its mirror image, each computed separately here by plain evaluations; its loss
// is the cross-entropy of that mean, and its predictions the mean's argmax.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"
#include "support/random_fill.hpp"

using namespace graft;

TEST_CASE("mirror_images reverses the width axis of every image and channel", "[network]") {
  Tensor<float> in(Shape{3, 2, 4, 5}), out(Shape{1});
  test::fill_normal(in, 21);
  out.fill(std::nanf(""));  // poisoned: every element must be written
  train::mirror_images(in, out);
  REQUIRE(out.shape() == in.shape());
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t x = 0; x < 5; ++x)
          CHECK(out[((n * 2 + c) * 4 + y) * 5 + x] == in[((n * 2 + c) * 4 + y) * 5 + (4 - x)]);
  Tensor<float> back;
  train::mirror_images(out, back);
  CHECK(std::equal(back.data(), back.data() + back.size(), in.data()));
  Tensor<float> flat(Shape{6, 5});
  CHECK_THROWS_WITH(train::mirror_images(flat, back), Catch::Contains("(6, 5)"));
}

TEST_CASE("evaluate with mirror averages each image's and its mirror's probabilities", "[network]") {
  const int n = 21, k = 3;  // 21 samples in batches of 8: the last batch is partial
  Tensor<float> images(Shape{n, 2, 6, 6}), mirrored;
  Tensor<int32_t> labels(Shape{n});
  test::fill_normal(images, 5, 1.5);
  for (int i = 0; i < n; ++i) labels[i] = (i * 7) % k;
  train::mirror_images(images, mirrored);

  nn::Network<float> net(Shape{2, 6, 6});
  net.conv("conv1", 4, 3, 1, 1).relu().max_pool("pool1", 2, 2).fc("fc2", 8).relu().dropout(0.5f, "drop2").fc("fc3", k);
  net.initialize(11);
  net.freeze_all();
  net.unfreeze("fc3");  // a frozen prefix: the plain evaluations may use the feature cache
  train::Adam<float, CPU> adam({0.01f});
  train::Trainer<CPU> trainer(net, adam);

  train::TensorSource plain(images, labels, 8), flipped(mirrored, labels, 8);
  const train::Evaluation a = trainer.evaluate(plain, k);
  const train::Evaluation b = trainer.evaluate(flipped, k);
  const train::Evaluation m = trainer.evaluate(plain, k, true);
  REQUIRE(m.probabilities.size() == size_t(n * k));
  REQUIRE(m.confusion.count() == n);

  double loss = 0;
  int agree = 0;  // samples where the two views' argmaxes differ make the test meaningful
  for (int i = 0; i < n; ++i) {
    REQUIRE(a.indices[size_t(i)] == i);
    REQUIRE(m.indices[size_t(i)] == i);
    int best = 0;
    for (int j = 0; j < k; ++j) {
      const size_t e = size_t(i * k + j);
      const double want = 0.5 * (double(a.probabilities[e]) + double(b.probabilities[e]));
      CHECK(std::abs(m.probabilities[e] - want) <= 1e-6 * std::max(1.0, want));
      if (m.probabilities[e] > m.probabilities[size_t(i * k + best)]) best = j;
    }
    CHECK(m.predicted[size_t(i)] == best);
    agree += a.predicted[size_t(i)] == b.predicted[size_t(i)];
    loss -= std::log(0.5 * (double(a.probabilities[size_t(i * k + labels[i])]) +
                            double(b.probabilities[size_t(i * k + labels[i])])));
  }
  CHECK(agree < n);  // the mirror image changes some predictions: the averaging is exercised
  CHECK(m.loss == Approx(loss / n).epsilon(1e-5));
  // Evaluating again without the mirror still gives the plain result (the cache is intact).
  const train::Evaluation a2 = trainer.evaluate(plain, k);
  CHECK(a2.probabilities == a.probabilities);
}
