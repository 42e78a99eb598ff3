// Core: shapes check themselves, tensors reuse storage, errors say what is wrong.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "graft/cpu.hpp"

using namespace graft;

TEST_CASE("Shape: rank, count, printing, checks", "[core]") {
  Shape s{8, 3, 224, 224};
  CHECK(s.rank() == 4);
  CHECK(s.numel() == 8 * 3 * 224 * 224);
  CHECK(s.str() == "(8, 3, 224, 224)");
  CHECK(s.c() == 3);
  CHECK(Shape{}.str() == "()");
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{5}.str() == "(5,)");
  CHECK(Shape{2, 0, 3}.numel() == 0);
  CHECK_THROWS_WITH(Shape({2, -1}), Catch::Contains("negative"));
  CHECK_THROWS_WITH(Shape({1 << 20, 1 << 20, 1 << 20}), Catch::Contains("too large"));
  CHECK_THROWS_WITH(Shape({1, 2, 3, 4, 5, 6, 7, 8, 9}), Catch::Contains("more than 8"));
  CHECK_THROWS_WITH(Shape({4, 5}).c(), Catch::Contains("expected an NCHW") && Catch::Contains("(4, 5)"));
  CHECK_THROWS_AS(s.dim(4), Error);
}

TEST_CASE("Tensor: resize reuses storage, views borrow, moves transfer", "[core]") {
  CHECK(Tensor<float>().size() == 0);
  Tensor<float> scalar(Shape{}, 2.5f);
  CHECK(scalar.size() == 1);
  CHECK(scalar[0] == 2.5f);
  Tensor<float> t(Shape{4, 100});
  float* p = t.data();
  t.resize(Shape{2, 100});
  CHECK(t.data() == p);  // smaller: same storage
  t.resize(Shape{4, 100});
  CHECK(t.data() == p);
  t.resize(Shape{8, 100});
  CHECK(t.size() == 800);
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);

  Tensor<float> u = std::move(t);
  CHECK(u.size() == 800);
  CHECK(t.size() == 0);  // empty after a move
  CHECK(t.data() == nullptr);

  float buf[6] = {1, 2, 3, 4, 5, 6};
  auto v = Tensor<float>::view(buf, Shape{2, 3});
  CHECK(v[4] == 5);
  v.reshape(Shape{3, 2});
  CHECK_THROWS_WITH(v.resize(Shape{4, 3}), Catch::Contains("cannot grow a tensor view"));
  CHECK_THROWS_WITH(v.reshape(Shape{7}), Catch::Contains("element counts differ"));
}

TEST_CASE("Tensor: copies, casts and poison", "[core]") {
  Tensor<double> a(Shape{2, 2});
  for (int i = 0; i < 4; ++i) a[i] = i + 0.5;
  Tensor<float> f = cast<float>(a);
  CHECK(f[3] == 3.5f);
  Tensor<double> b = clone(a);
  b[0] = 9;
  CHECK(a[0] == 0.5);
  poison(b);
  CHECK(std::isnan(b[2]));
  Tensor<double> h;
  copy_to_host(a, h);
  CHECK(h[1] == 1.5);
}

TEST_CASE("Random: counter-based streams are reproducible and well spread", "[core]") {
  CHECK(random::uniform(7, 100) == random::uniform(7, 100));
  CHECK(random::uniform(7, 100) != random::uniform(8, 100));
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    double z = random::normal(42, i);
    sum += z;
    sq += z * z;
  }
  CHECK(std::abs(sum / n) < 0.02);
  CHECK(std::abs(sq / n - 1.0) < 0.02);
  Rng r(5);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(r.below(10));
  CHECK(seen.size() == 10);
  Rng resumed(5, 1000);
  CHECK(resumed.next() == r.next());
}
