// The multi-tensor optimizer kernels (kernels/optim.cuh: adam_update_multi, sgd_update_multi)
// under the host emulator: more tensors than one launch takes (kMultiTensors), sizes around
// the chunk size (kMultiChunk) and the float4 width, misaligned tensors (the scalar path),
// different rates, decays and step counts per tensor. Each must equal the single-tensor
// kernels bit for bit (the same per-element code), which test_kernels_emu and the [cuda]
// tests compare with the CPU backend; and the CPU backend's multi forms equal its own
// single-tensor updates. The optimizers (train::Adam, train::Sgd) call the multi forms.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/train/optimizer.hpp"
#include "support/host_buffers.hpp"

#include "support/cuda_emu.hpp"  // after the host headers: it defines CUDA's keywords as macros

#include "kernels/optim.cuh"

using namespace graft;

namespace {

struct Tensors {
  std::vector<test::Buf<float>> w, g, m, v;
};

// n elements per tensor, offset 1 for every third (misaligned: the scalar path).
Tensors make(const std::vector<int64_t>& sizes, uint64_t seed) {
  Tensors t;
  Rng rng(seed);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int off = i % 3 == 2 ? 1 : 0;
    for (auto* list : {&t.w, &t.g, &t.m, &t.v}) {
      list->emplace_back(sizes[i], off);
      for (int64_t e = 0; e < sizes[i]; ++e) list->back().p[e] = float(rng.normal());
    }
    for (int64_t e = 0; e < sizes[i]; ++e) t.v[i].p[e] = std::abs(t.v[i].p[e]);  // a second moment
  }
  return t;
}

bool equal(const test::Buf<float>& a, const test::Buf<float>& b, int64_t n) {
  return std::memcmp(a.p, b.p, size_t(n + 1) * sizeof(float)) == 0 || [&] {
    for (int64_t e = 0; e <= n; ++e)  // (the element past the end: both NaN, untouched)
      if (!(a.p[e] == b.p[e] || (std::isnan(a.p[e]) && std::isnan(b.p[e])))) return false;
    return true;
  }();
}

const std::vector<int64_t> kSizes = [] {
  std::vector<int64_t> s = {1, 3, 4, 5, 7, 64, 1000, kernels::kMultiChunk - 1, kernels::kMultiChunk,
                            kernels::kMultiChunk + 1, 2 * kernels::kMultiChunk + 5};
  while (s.size() < size_t(kernels::kMultiTensors) + 6) s.push_back(int64_t(s.size()) * 37 + 2);  // two launches
  s.push_back(0);  // an empty tensor is skipped
  return s;
}();

}  // namespace

TEST_CASE("emulated kernels: multi-tensor Adam equals the single-tensor kernel bit for bit", "[emu][optim]") {
  Tensors a = make(kSizes, 1), b = make(kSizes, 1);
  std::vector<AdamItem<float>> items;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    AdamItem<float> it;
    it.w = a.w[i].p;
    it.g = a.g[i].p;
    it.m = a.m[i].p;
    it.v = a.v[i].p;
    it.n = kSizes[i];
    it.lr = 1e-3f * float(1 + i % 4);
    it.weight_decay = i % 2 ? 1e-4f : 0.0f;
    it.step = int64_t(1 + i % 5);
    items.push_back(it);
  }
  kernels::adam_update_multi<float>(items.data(), items.size(), 0.9f, 0.999f, 1e-8f, nullptr);
  for (size_t i = 0; i < kSizes.size(); ++i)
    kernels::adam_update<float>(kSizes[i], b.w[i].p, b.g[i].p, b.m[i].p, b.v[i].p, items[i].lr, 0.9f, 0.999f, 1e-8f,
                                items[i].weight_decay, items[i].step, nullptr);
  for (size_t i = 0; i < kSizes.size(); ++i) {
    INFO("tensor " << i << ", " << kSizes[i] << " elements");
    CHECK(equal(a.w[i], b.w[i], kSizes[i]));
    CHECK(equal(a.m[i], b.m[i], kSizes[i]));
    CHECK(equal(a.v[i], b.v[i], kSizes[i]));
  }
  // the CPU backend's multi form is its single-tensor loop
  Tensors c = make(kSizes, 1), d = make(kSizes, 1);
  Context<CPU> ctx;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    items[i].w = c.w[i].p;
    items[i].g = c.g[i].p;
    items[i].m = c.m[i].p;
    items[i].v = c.v[i].p;
  }
  Backend<CPU>::adam_update_multi(ctx, items.data(), items.size(), 0.9f, 0.999f, 1e-8f);
  for (size_t i = 0; i < kSizes.size(); ++i) {
    Backend<CPU>::adam_update(ctx, kSizes[i], d.w[i].p, d.g[i].p, d.m[i].p, d.v[i].p, items[i].lr, 0.9f, 0.999f, 1e-8f,
                              items[i].weight_decay, items[i].step);
    CHECK(equal(c.w[i], d.w[i], kSizes[i]));
  }
  // and the kernel's result is an update (not a copy): the weights moved
  CHECK(a.w[6].p[0] != make(kSizes, 1).w[6].p[0]);
}

TEST_CASE("emulated kernels: multi-tensor SGD equals the single-tensor kernel bit for bit", "[emu][optim]") {
  for (float momentum : {0.0f, 0.9f})
    for (bool nesterov : {false, true}) {
      if (nesterov && momentum == 0) continue;
      INFO("momentum " << momentum << (nesterov ? " nesterov" : ""));
      Tensors a = make(kSizes, 2), b = make(kSizes, 2);
      std::vector<SgdItem<float>> items;
      for (size_t i = 0; i < kSizes.size(); ++i) {
        SgdItem<float> it;
        it.w = a.w[i].p;
        it.g = a.g[i].p;
        it.buf = a.m[i].p;
        it.n = kSizes[i];
        it.lr = 1e-2f * float(1 + i % 3);
        it.weight_decay = i % 2 ? 5e-4f : 0.0f;
        items.push_back(it);
      }
      kernels::sgd_update_multi<float>(items.data(), items.size(), momentum, nesterov, nullptr);
      for (size_t i = 0; i < kSizes.size(); ++i)
        kernels::sgd_update<float>(kSizes[i], b.w[i].p, b.g[i].p, b.m[i].p, items[i].lr, momentum,
                                   items[i].weight_decay, nesterov, nullptr);
      for (size_t i = 0; i < kSizes.size(); ++i) {
        INFO("tensor " << i << ", " << kSizes[i] << " elements");
        CHECK(equal(a.w[i], b.w[i], kSizes[i]));
        CHECK(equal(a.m[i], b.m[i], kSizes[i]));  // (momentum 0: both untouched)
      }
    }
}

TEST_CASE("optimizers: a step through the multi-tensor path equals per-tensor updates (CPU)", "[optim]") {
  // train::Adam gathers the step's tensors and hands them over at once; a parameter unfrozen
  // later starts its own step count.
  Param<float, CPU> p1, p2;
  for (auto* p : {&p1, &p2}) {
    p->value.resize(Shape{5});
    p->grad.resize(Shape{5});
    p->trainable = true;
  }
  for (int i = 0; i < 5; ++i) {
    p1.value[i] = float(i);
    p2.value[i] = float(-i);
    p1.grad[i] = 0.5f;
    p2.grad[i] = -0.25f * float(i);
  }
  std::vector<train::ParamRef<float, CPU>> refs = {{"a", &p1}, {"b", &p2}};
  train::Adam<float, CPU> adam({0.1f});
  Context<CPU> ctx;
  p2.trainable = false;
  adam.step(ctx, refs);
  p2.trainable = true;
  adam.step(ctx, refs);
  CHECK(adam.state().at("a").step == 2);
  CHECK(adam.state().at("b").step == 1);
  // by hand: Adam's first step moves each weight by lr * sign(g) (bias-corrected m/sqrt(v))
  CHECK(p2.value[1] == Approx(-1.0f + 0.1f).epsilon(1e-5));
  // a gradient of the wrong shape refuses the whole step before any update
  const float before = p1.value[0];
  p2.grad.resize(Shape{4});
  CHECK_THROWS_WITH(adam.step(ctx, refs), Catch::Contains("b has no gradient"));
  CHECK(p1.value[0] == before);
}
