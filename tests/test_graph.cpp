// [graph]: networks that are not chains. A small residual network (a same-shape residual
// block, then a zero-padded shortcut with more channels) built with net.sum / net.add(...,
// {"a", "b"}) / net.from: its forward against a hand computation of every node from its
// inputs, its backward against finite differences in double (the gradient of a tensor with
// two readers is their sum), the builder's errors, backward pruning and the cache boundary.
#include <catch2/catch.hpp>

#include <cmath>

#include "graft/cpu.hpp"
#include "graft/nn/feature_cache.hpp"
#include "graft/nn/nn.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"
#include "support/residual_net.hpp"

using namespace graft;
using test::fill_normal;

namespace {

std::unique_ptr<nn::Network<double>> residual_net() { return test::residual_net<double, CPU>(23); }

size_t idx(nn::Network<double>& net, const char* name) { return size_t(net.index_of(name)); }

}  // namespace

TEST_CASE("graph: a residual network's forward equals a hand computation of each node", "[graph]") {
  auto net = residual_net();
  CHECK(!net->is_chain());
  CHECK(net->output_shape() == Shape({1, 3}));
  CHECK(net->shape_after(int(idx(*net, "res2"))) == Shape({1, 6, 3, 3}));
  CHECK(net->inputs_of(idx(*net, "res")) == std::vector<int>{int(idx(*net, "b2")), int(idx(*net, "stem_relu"))});
  Tensor<double> x(Shape{3, 2, 6, 6});
  fill_normal(x, 3);
  net->forward(x);
  auto act = [&](const char* n) { return clone(net->activation(idx(*net, n))); };
  const Tensor<double> stem_relu = act("stem_relu"), b2 = act("b2"), res = act("res"), res_relu = act("res_relu"),
                       apool = act("apool"), c1 = act("c1"), res2 = act("res2"), gap = act("gap");
  for (int64_t i = 0; i < res.size(); ++i) {
    CHECK(res[i] == b2[i] + stem_relu[i]);
    CHECK(res_relu[i] == std::max(res[i], 0.0));
  }
  // apool: 2x2 means of res_relu (3, 4, 6, 6) -> (3, 4, 3, 3)
  double worst = 0;
  for (int64_t p = 0; p < 3 * 4; ++p)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const double* r = res_relu.data() + p * 36;
        const double m = (r[(2 * i) * 6 + 2 * j] + r[(2 * i) * 6 + 2 * j + 1] + r[(2 * i + 1) * 6 + 2 * j] +
                          r[(2 * i + 1) * 6 + 2 * j + 1]) / 4;
        worst = std::max(worst, std::abs(apool[p * 9 + i * 3 + j] - m));
      }
  CHECK(worst < 1e-14);
  // c1 is the conv layer on apool; res2 = c1 + apool with channels 4, 5 of apool taken as zero
  Tensor<double> c1_again;
  net->find("c1").forward(apool, c1_again);
  CHECK(test::max_rel_error(c1_again, c1) == 0.0);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 6; ++c)
      for (int64_t q = 0; q < 9; ++q) {
        const double shortcut = c < 4 ? apool[(n * 4 + c) * 9 + q] : 0.0;
        CHECK(res2[(n * 6 + c) * 9 + q] == c1[(n * 6 + c) * 9 + q] + shortcut);
      }
  for (int64_t p = 0; p < 3 * 6; ++p) {
    double s = 0;
    for (int64_t q = 0; q < 9; ++q) s += res2[p * 9 + q];
    CHECK(std::abs(gap[p] - s / 9) < 1e-14);
  }
  CHECK(gap.shape() == Shape({3, 6, 1, 1}));
  // the whole output: fc on gap
  Tensor<double> out;
  net->find("fc").forward(gap, out);
  CHECK(test::max_rel_error(out, net->output()) == 0.0);
}

TEST_CASE("graph: the residual network's backward matches finite differences", "[graph][gradcheck]") {
  auto net = residual_net();
  Tensor<double> x(Shape{2, 2, 6, 6});
  fill_normal(x, 4);
  Tensor<double> r(Shape{2, 3});
  fill_normal(r, 5);
  // L = sum(out .* r): dL/dout = r
  auto loss = [&]() {
    const Tensor<double>& y = net->forward(x);
    double s = 0;
    for (int64_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
    return s;
  };
  loss();
  for (auto& np : net->params()) {
    np.param->grad.resize(np.param->value.shape());
    poison(np.param->grad);
  }
  CHECK(net->backward(r) == net->size());
  for (auto& np : net->params()) {
    Tensor<double>& v = np.param->value;
    const Tensor<double> numeric = test::numeric_gradient(v, loss, 1e-6);
    double err = test::grad_error(np.param->grad, numeric);
    for (int64_t i = 0; i < v.size(); ++i)
      if (std::isnan(np.param->grad[i])) err = INFINITY;
    INFO(np.name << " gradient error " << err);
    CHECK(err < 1e-6);  // double precision; stem's gradient sums its two readers' (b1, res)
  }
}

TEST_CASE("graph: builder errors name the node, the shapes and unknown inputs", "[graph]") {
  auto net = residual_net();
  // b1 (1, 4, 6, 6) + apool (1, 4, 3, 3) without zero_pad
  CHECK_THROWS_WITH(net->sum("bad_sum", {"b1", "apool"}),
                    Catch::Contains("bad_sum") && Catch::Contains("(1, 4, 6, 6)") && Catch::Contains("(1, 4, 3, 3)") &&
                        Catch::Contains("input 1"));
  CHECK(net->index_of("bad_sum") < 0);  // a failed node is not added
  CHECK_THROWS_WITH(net->sum("s2", {"nope", "b1"}), Catch::Contains("'nope'") && Catch::Contains("s2"));
  CHECK_THROWS_WITH(net->sum("s3", {"b1"}), Catch::Contains("s3 (Add)") && Catch::Contains("two or more"));
  // zero_pad still needs one rank and one batch: a 2-D tensor against a 4-D one
  CHECK_THROWS_WITH(net->sum("s4", {"fc", "c1"}, true), Catch::Contains("s4 (Add)") && Catch::Contains("(1, 3)") &&
                                                            Catch::Contains("(1, 6, 3, 3)"));
  CHECK_THROWS_WITH(net->from("missing"), Catch::Contains("'missing'"));
  // from() moves the chain's cursor: a second head on apool
  net->from("apool").global_avg_pool("gap_b");
  CHECK(net->inputs_of(idx(*net, "gap_b")) == std::vector<int>{int(idx(*net, "apool"))});
  CHECK(net->output_shape() == Shape({1, 4, 1, 1}));
}

TEST_CASE("graph: backward runs only at and above the learning nodes", "[graph][freeze]") {
  auto net = residual_net();
  Tensor<double> x(Shape{2, 2, 6, 6}), dout(Shape{2, 3});
  fill_normal(x, 6);
  fill_normal(dout, 7);
  for (auto& np : net->params()) {
    np.param->grad.resize(np.param->value.shape());
    poison(np.param->grad);
  }
  const auto& counts = net->backward_counts();
  net->freeze_all();
  net->unfreeze("c1");
  net->forward(x);
  CHECK(net->backward(dout) == 4);  // c1, res2, gap, fc
  for (const char* n : {"c1", "res2", "gap", "fc"}) CHECK(counts[idx(*net, n)] == 1);
  for (const char* n : {"stem", "stem_relu", "b1", "b2", "res", "res_relu", "apool"}) CHECK(counts[idx(*net, n)] == 0);
  CHECK(std::isnan(net->find("fc").params()[0]->grad[0]));  // frozen: untouched
  CHECK(!std::isnan(net->find("c1").params()[0]->grad[0]));

  net->unfreeze("b2");  // inside the first block: its readers run, the stem and b1 do not
  net->forward(x);
  CHECK(net->backward(dout) == net->size() - idx(*net, "b2"));
  for (const char* n : {"stem", "stem_relu", "b1", "b1_relu"}) CHECK(counts[idx(*net, n)] == 0);
  for (const char* n : {"b2", "res", "res_relu", "apool"}) CHECK(counts[idx(*net, n)] == 1);
  CHECK(counts[idx(*net, "c1")] == 2);
}

TEST_CASE("graph: the cache boundary stops at a cut, never inside a residual block", "[graph][cache]") {
  auto net = residual_net();
  net->freeze_through("apool");  // c1 and above learn: apool's output is a cut
  CHECK(nn::cache_boundary(*net) == idx(*net, "c1"));
  net->unfreeze_all();
  net->freeze_through("b1_relu");  // b2 learns, but res reads stem_relu: the cut is below b1
  CHECK(!net->is_cut(idx(*net, "b2")));
  CHECK(nn::cache_boundary(*net) == idx(*net, "b1"));
  // a forward from the boundary, given the tensor before it, equals the whole forward
  Tensor<double> x(Shape{2, 2, 6, 6});
  fill_normal(x, 8);
  const Tensor<double> full = clone(net->forward(x));
  const Tensor<double> cut = clone(net->activation(idx(*net, "stem_relu")));
  CHECK(test::max_rel_error(net->forward(cut, idx(*net, "b1")), full) == 0.0);
  CHECK_THROWS_WITH(net->forward(clone(net->activation(idx(*net, "b1_relu"))), idx(*net, "b2")),
                    Catch::Contains("cannot start at b2"));
}
