// Synchronised BatchNorm2d in one process: the ranks of a data-parallel run are threads, and
// a fake reducer sums their statistics (in rank order, after every rank has brought its
// part). Two copies of a layer, each given a share of the batch, must compute what one
// layer computes on the whole batch: the forward's output, the running statistics, dx, and
// the sum of the copies' dgamma and dbeta (the gradient sync's sum), to 1e-12 in double; and
// the synchronised layer's gradients must match central finite differences of a loss over
// both shares. A rank with an empty share joins the sums with zeros.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/resnet.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"

using namespace graft;

namespace {

// The ranks' meeting point: sum() returns once every rank has called it, with the sum of all
// ranks' data in rank order. A round where the ranks bring different lengths is recorded
// (the real communicator would hang or fail there).
class FakeWorld {
 public:
  explicit FakeWorld(int ranks) : ranks_(ranks), parts_(size_t(ranks)), sizes_(size_t(ranks)) {}
  void sum(int rank, double* data, int64_t n) {
    std::unique_lock<std::mutex> lk(m_);
    const uint64_t round = round_;
    parts_[size_t(rank)].assign(data, data + n);
    sizes_[size_t(rank)].push_back(n);
    if (++arrived_ == ranks_) {
      total_.assign(size_t(n), 0.0);
      for (const auto& p : parts_) {
        if (int64_t(p.size()) != n) mismatch_ = true;
        for (size_t i = 0; i < p.size() && i < total_.size(); ++i) total_[i] += p[i];
      }
      arrived_ = 0;
      ++round_;
      cv_.notify_all();
    } else {
      cv_.wait(lk, [&] { return round_ != round; });
    }
    for (int64_t i = 0; i < n && size_t(i) < total_.size(); ++i) data[i] = total_[size_t(i)];
  }
  bool mismatch() const { return mismatch_; }
  const std::vector<int64_t>& sizes(int rank) const { return sizes_[size_t(rank)]; }

 private:
  int ranks_;
  std::mutex m_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t round_ = 0;
  std::vector<std::vector<double>> parts_;
  std::vector<std::vector<int64_t>> sizes_;
  std::vector<double> total_;
  bool mismatch_ = false;
};

struct FakeReducer : StatsReducer {
  FakeReducer(FakeWorld& w, int r) : world(w), rank(r) {}
  void sum(double* data, int64_t n, const char* /*what*/) override { world.sum(rank, data, n); }
  FakeWorld& world;
  int rank;
};

// Runs f(rank) on one thread per rank; an exception on a rank is kept as its message.
std::vector<std::string> on_ranks(int ranks, const std::function<void(int)>& f) {
  std::vector<std::string> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> ts;
  for (int r = 0; r < ranks; ++r)
    ts.emplace_back([&, r] {
      try {
        f(r);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  return errors;
}

// Samples [begin, begin + count) of x (any rank), as a tensor of their own.
Tensor<double> rows(const Tensor<double>& x, int64_t begin, int64_t count) {
  std::vector<int64_t> d = x.shape().dims();
  const int64_t per = x.size() / d[0];
  d[0] = count;
  Tensor<double> out{Shape(d)};
  std::copy(x.data() + begin * per, x.data() + (begin + count) * per, out.data());
  return out;
}

using BN = BatchNorm2d<double>;

// A layer set up for `shape` with gamma, beta and running statistics drawn from `seed`.
std::unique_ptr<BN> make_bn(const Shape& shape, Context<CPU>& ctx, uint64_t seed) {
  auto bn = std::make_unique<BN>("bn", 0, 1e-5, 0.3);
  bn->setup(shape, ctx);
  test::fill_uniform(bn->scale.value, seed, 0.5, 1.5);
  test::fill_normal(bn->offset.value, seed + 1, 0.5);
  test::fill_normal(bn->running_mean, seed + 2, 1.0);
  test::fill_uniform(bn->running_var, seed + 3, 0.5, 2.0);
  bn->set_training(true);
  return bn;
}

void check_shards_equal_whole(const Shape& shape, const std::vector<int64_t>& share) {
  INFO("input " << shape.str() << ", shares " << share[0] << " and " << share[1]);
  Context<CPU> ctx;
  Tensor<double> x{shape}, dy{shape};
  test::fill_normal(x, 5, 2.0);
  for (auto& v : x) v += 40.0;  // a large mean: the variance must not cancel
  test::fill_normal(dy, 6, 1.0);
  // One process, the whole batch.
  auto whole = make_bn(shape, ctx, 9);
  Tensor<double> y, dx;
  whole->forward(x, y);
  whole->backward(x, y, dy, &dx);
  // Two ranks, each its share.
  FakeWorld world(2);
  std::vector<std::unique_ptr<BN>> bn;
  std::vector<FakeReducer> red{FakeReducer(world, 0), FakeReducer(world, 1)};
  std::vector<Tensor<double>> xs(2), ys(2), dys(2), dxs(2);
  std::vector<int64_t> begin{0, share[0]};
  for (int r = 0; r < 2; ++r) {
    bn.push_back(make_bn(shape, ctx, 9));
    REQUIRE(bn.back()->set_stats_reducer(&red[size_t(r)]));
  }
  const auto errors = on_ranks(2, [&](int r) {
    BN& l = *bn[size_t(r)];
    if (share[size_t(r)] == 0) {
      l.forward_without_samples();
      l.backward_without_samples(true);
      l.scale.grad.resize(l.scale.value.shape());  // the trainer zeroes an empty rank's gradients
      l.scale.grad.zero();
      l.offset.grad.resize(l.offset.value.shape());
      l.offset.grad.zero();
      return;
    }
    xs[size_t(r)] = rows(x, begin[size_t(r)], share[size_t(r)]);
    dys[size_t(r)] = rows(dy, begin[size_t(r)], share[size_t(r)]);
    dxs[size_t(r)].resize(xs[size_t(r)].shape());
    poison(dxs[size_t(r)]);
    l.forward(xs[size_t(r)], ys[size_t(r)]);
    l.backward(xs[size_t(r)], ys[size_t(r)], dys[size_t(r)], &dxs[size_t(r)]);
  });
  REQUIRE(errors[0].empty());
  REQUIRE(errors[1].empty());
  CHECK(!world.mismatch());
  CHECK(world.sizes(0) == world.sizes(1));
  CHECK(world.sizes(0).size() == 3);  // count and sums, squared deviations, the gradient's sums
  const double tol = 1e-12;
  for (int r = 0; r < 2; ++r) {
    if (share[size_t(r)] == 0) continue;
    CHECK(test::max_rel_error(ys[size_t(r)], rows(y, begin[size_t(r)], share[size_t(r)])) < tol);
    CHECK(test::max_rel_error(dxs[size_t(r)], rows(dx, begin[size_t(r)], share[size_t(r)])) < tol);
  }
  for (int r = 0; r < 2; ++r) {
    CHECK(test::max_rel_error(bn[size_t(r)]->running_mean, whole->running_mean) < tol);
    CHECK(test::max_rel_error(bn[size_t(r)]->running_var, whole->running_var) < tol);
  }
  Tensor<double> dg{whole->scale.grad.shape()}, db{whole->offset.grad.shape()};
  for (int64_t k = 0; k < dg.size(); ++k) {
    dg[k] = bn[0]->scale.grad[k] + bn[1]->scale.grad[k];
    db[k] = bn[0]->offset.grad[k] + bn[1]->offset.grad[k];
  }
  CHECK(test::max_rel_error(dg, whole->scale.grad) < tol);
  CHECK(test::max_rel_error(db, whole->offset.grad) < tol);
}

}  // namespace

TEST_CASE("sync batchnorm: 2 shards with a summing reducer equal one layer on the whole batch", "[norm]") {
  check_shards_equal_whole(Shape{6, 3, 4, 5}, {4, 2});
  check_shards_equal_whole(Shape{5, 3, 4, 5}, {1, 4});
  check_shards_equal_whole(Shape{7, 4}, {3, 4});          // (n, C): BatchNorm1d's case
  check_shards_equal_whole(Shape{4, 3, 2, 3}, {0, 4});    // rank 0's share is empty
  check_shards_equal_whole(Shape{4, 3, 2, 3}, {4, 0});    // rank 1's
}

TEST_CASE("sync batchnorm: without a reducer each share has its own statistics (the test above can fail)",
          "[norm]") {
  Context<CPU> ctx;
  const Shape shape{6, 3, 4, 5};
  Tensor<double> x{shape};
  test::fill_normal(x, 5, 2.0);
  auto whole = make_bn(shape, ctx, 9), half = make_bn(Shape{3, 3, 4, 5}, ctx, 9);
  Tensor<double> y, yh;
  whole->forward(x, y);
  half->forward(rows(x, 0, 3), yh);
  CHECK(test::max_rel_error(yh, rows(y, 0, 3)) > 1e-3);
  CHECK(test::max_rel_error(half->running_mean, whole->running_mean) > 1e-3);
}

TEST_CASE("sync batchnorm: gradients of the synchronised layer match finite differences", "[norm][gradcheck]") {
  Context<CPU> ctx;
  const std::vector<Shape> shapes{Shape{3, 2, 3, 2}, Shape{2, 2, 3, 2}};  // the two ranks' shares
  std::vector<Tensor<double>> xs(2), rs(2), ys(2), dxs(2);
  for (int r = 0; r < 2; ++r) {
    xs[size_t(r)].resize(shapes[size_t(r)]);
    rs[size_t(r)].resize(shapes[size_t(r)]);
    test::fill_normal(xs[size_t(r)], 20 + r, 1.5);
    test::fill_normal(rs[size_t(r)], 30 + r, 1.0);
  }
  Tensor<double> gamma{Shape{2}}, beta{Shape{2}};
  test::fill_uniform(gamma, 40, 0.5, 1.5);
  test::fill_normal(beta, 41, 0.5);
  FakeWorld world(2);
  std::vector<FakeReducer> red{FakeReducer(world, 0), FakeReducer(world, 1)};
  std::vector<std::unique_ptr<BN>> bn;
  for (int r = 0; r < 2; ++r) {
    bn.push_back(make_bn(shapes[size_t(r)], ctx, 9));
    bn.back()->set_stats_reducer(&red[size_t(r)]);
  }
  // L = sum over ranks of sum(y_r .* r_r), with gamma and beta shared by the copies.
  auto loss = [&]() {
    for (auto& l : bn) {
      copy(gamma, l->scale.value);
      copy(beta, l->offset.value);
    }
    const auto errors = on_ranks(2, [&](int r) { bn[size_t(r)]->forward(xs[size_t(r)], ys[size_t(r)]); });
    REQUIRE(errors[0].empty());
    double s = 0;
    for (int r = 0; r < 2; ++r)
      for (int64_t i = 0; i < ys[size_t(r)].size(); ++i) s += ys[size_t(r)][i] * rs[size_t(r)][i];
    return s;
  };
  loss();
  const auto errors = on_ranks(2, [&](int r) {
    dxs[size_t(r)].resize(shapes[size_t(r)]);
    bn[size_t(r)]->backward(xs[size_t(r)], ys[size_t(r)], rs[size_t(r)], &dxs[size_t(r)]);
  });
  REQUIRE(errors[0].empty());
  Tensor<double> dg{Shape{2}}, db{Shape{2}};
  for (int64_t k = 0; k < 2; ++k) {
    dg[k] = bn[0]->scale.grad[k] + bn[1]->scale.grad[k];
    db[k] = bn[0]->offset.grad[k] + bn[1]->offset.grad[k];
  }
  for (int r = 0; r < 2; ++r) {
    INFO("rank " << r << "'s input");
    Tensor<double> analytic = clone(dxs[size_t(r)]);
    CHECK(test::grad_error(analytic, test::numeric_gradient(xs[size_t(r)], loss)) < 1e-6);
  }
  CHECK(test::grad_error(dg, test::numeric_gradient(gamma, loss)) < 1e-6);
  CHECK(test::grad_error(db, test::numeric_gradient(beta, loss)) < 1e-6);
}

TEST_CASE("sync batchnorm: one value per channel over all ranks is an error on every rank, not a hang",
          "[norm]") {
  Context<CPU> ctx;
  FakeWorld world(2);
  std::vector<FakeReducer> red{FakeReducer(world, 0), FakeReducer(world, 1)};
  auto a = make_bn(Shape{1, 3}, ctx, 1), b = make_bn(Shape{1, 3}, ctx, 1);
  a->set_stats_reducer(&red[0]);
  b->set_stats_reducer(&red[1]);
  Tensor<double> x{Shape{1, 3}}, y;
  test::fill_normal(x, 3);
  const auto errors = on_ranks(2, [&](int r) {
    if (r == 0) a->forward(x, y);
    else b->forward_without_samples();
  });
  for (const auto& e : errors) {
    CHECK_THAT(e, Catch::Contains("bn (BatchNorm2d)") &&
                      Catch::Contains("more than one value per channel over all ranks") && Catch::Contains("got 1"));
  }
}

TEST_CASE("sync batchnorm: a network with an empty share joins every sum, its hooks in backward's order",
          "[norm][network]") {
  // stem conv, bn1, relu, conv, bn2 (+ stem's bn1 output: a residual sum), relu, pool, fc.
  auto build = [](uint64_t seed) {
    auto net = std::make_unique<nn::Network<double>>(Shape{2, 5, 5});
    net->conv("stem", 3, 3, 1, 1).batch_norm("bn1").relu("r1");
    net->conv("c2", 3, 3, 1, 1).batch_norm("bn2");
    net->sum("res", {"bn2", "r1"}).relu("r2").global_avg_pool("gap").fc("fc", 2);
    net->initialize(seed);
    net->set_training(true);
    return net;
  };
  Tensor<double> x{Shape{4, 2, 5, 5}}, dout{Shape{4, 2}};
  test::fill_normal(x, 1);
  test::fill_normal(dout, 2);
  auto alone = build(3);
  alone->forward(x);
  alone->backward(dout);
  FakeWorld world(2);
  std::vector<FakeReducer> red{FakeReducer(world, 0), FakeReducer(world, 1)};
  std::vector<std::unique_ptr<nn::Network<double>>> nets;
  std::vector<std::vector<size_t>> hooks(2);
  for (int r = 0; r < 2; ++r) {
    nets.push_back(build(3));
    CHECK(nets.back()->set_batchnorm_sync(&red[size_t(r)]) == 2);
    nets.back()->set_backward_hook([&hooks, r](size_t node) { hooks[size_t(r)].push_back(node); });
  }
  const auto errors = on_ranks(2, [&](int r) {
    if (r == 0) {
      nets[0]->forward(x);
      nets[0]->backward(dout);
    } else {
      nets[1]->forward_without_samples();
      nets[1]->backward_without_samples();
    }
  });
  REQUIRE(errors[0].empty());
  REQUIRE(errors[1].empty());
  CHECK(!world.mismatch());
  CHECK(world.sizes(0) == world.sizes(1));
  CHECK(world.sizes(0).size() == 6);  // two BatchNorms: 2 sums forward, 1 backward each
  CHECK(hooks[0] == hooks[1]);
  CHECK(hooks[0].size() == alone->size());
  // Rank 0 holds every sample: its network is the one alone, and so are rank 1's statistics.
  CHECK(test::max_rel_error(nets[0]->output(), alone->output()) < 1e-12);
  auto p0 = nets[0]->params(), pa = alone->params();
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    CHECK(test::max_rel_error(p0[i].param->grad, pa[i].param->grad) < 1e-12);
  }
  for (const char* name : {"bn1", "bn2"}) {
    auto& l0 = dynamic_cast<BN&>(nets[1]->find(name));
    auto& la = dynamic_cast<BN&>(alone->find(name));
    CHECK(test::max_rel_error(l0.running_mean, la.running_mean) < 1e-12);
    CHECK(test::max_rel_error(l0.running_var, la.running_var) < 1e-12);
  }
  nets[0]->set_batchnorm_sync(nullptr);
  CHECK(!nets[0]->batchnorm_synced());
}

TEST_CASE("sync batchnorm: a ResNet-18 split over 2 ranks has one process's outputs, gradients and statistics",
          "[norm][network]") {
  // Double, width 1/8 (8 to 64 planes), 32 x 32 inputs: every BatchNorm learns, with stride-2
  // blocks, downsample shortcuts and a 1 x 1 last stage, where a rank's share is few values.
  nn::ResNetOptions o;
  o.input = 32;
  o.width = 0.125;
  auto build = [&] {
    auto net = nn::resnet18<double>(3, o);
    net->initialize(4);
    net->set_training(true);
    return net;
  };
  const int64_t n = 6, share0 = 4;
  Tensor<double> x{Shape{n, 3, 32, 32}}, dout{Shape{n, 3}};
  test::fill_normal(x, 7);
  test::fill_normal(dout, 8);
  auto alone = build();
  const Tensor<double> y = clone(alone->forward(x));
  alone->backward(dout);
  FakeWorld world(2);
  std::vector<FakeReducer> red{FakeReducer(world, 0), FakeReducer(world, 1)};
  std::vector<std::unique_ptr<nn::Network<double>>> nets;
  for (int r = 0; r < 2; ++r) {
    nets.push_back(build());
    CHECK(nets.back()->set_batchnorm_sync(&red[size_t(r)]) == 20);
  }
  const int64_t begin[2] = {0, share0}, count[2] = {share0, n - share0};
  std::vector<Tensor<double>> ys(2);
  const auto errors = on_ranks(2, [&](int r) {
    const Tensor<double> xr = rows(x, begin[r], count[r]), dr = rows(dout, begin[r], count[r]);
    ys[size_t(r)] = clone(nets[size_t(r)]->forward(xr));
    nets[size_t(r)]->backward(dr);
  });
  REQUIRE(errors[0].empty());
  REQUIRE(errors[1].empty());
  CHECK(!world.mismatch());
  for (int r = 0; r < 2; ++r) CHECK(test::max_rel_error(ys[size_t(r)], rows(y, begin[r], count[r])) < 1e-10);
  auto p0 = nets[0]->params(), p1 = nets[1]->params(), pa = alone->params();
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    Tensor<double> sum = clone(p0[i].param->grad);
    for (int64_t k = 0; k < sum.size(); ++k) sum[k] += p1[i].param->grad[k];
    const double e = test::max_rel_error(sum, pa[i].param->grad);
    INFO(pa[i].name);
    CHECK(e < 1e-9);
    worst = std::max(worst, e);
  }
  for (size_t l = 0; l < alone->size(); ++l) {
    auto ba = alone->layer(l).buffers(), b1 = nets[1]->layer(l).buffers();
    for (size_t i = 0; i < ba.size(); ++i) CHECK(test::max_rel_error(*b1[i].tensor, *ba[i].tensor) < 1e-12);
  }
  std::printf("sync batchnorm: ResNet-18 on 2 ranks, worst relative gradient difference %.3g (double)\n", worst);
}
