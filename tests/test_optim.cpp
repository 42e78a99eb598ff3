// [optim]: SGD and Adam against torch.optim for several steps on the same gradients, and
// the learning-rate schedules and stage strings.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "graft/cpu.hpp"
#include "graft/train/optimizer.hpp"
#include "graft/train/schedule.hpp"
#include "support/random_fill.hpp"
#include "support/torch_ref.hpp"

using namespace graft;
using namespace graft::train;

namespace {
constexpr int kSteps = 7;
constexpr int64_t kN = 1000;

// Runs `opt` for kSteps on random gradients and compares with torch.optim.
void compare_with_torch(Optimizer<float, CPU>& opt, const std::string& json, float lr_mult = 1.0f,
                        const std::vector<float>& scales = {}) {
  test::TorchRef ref;
  Context<CPU> ctx;
  Param<float, CPU> p;
  p.name = "weights";
  p.value.resize(Shape{kN});
  test::fill_normal(p.value, 1);
  p.lr_mult = lr_mult;
  ref.put("w0", p.value);
  Tensor<float> grads(Shape{kSteps, kN});
  test::fill_normal(grads, 2, 0.1);
  ref.put("grads", grads);
  std::vector<ParamRef<float, CPU>> params{{"fc/weights", &p}};
  for (int s = 0; s < kSteps; ++s) {
    p.grad.resize(Shape{kN});
    for (int64_t i = 0; i < kN; ++i) p.grad[i] = grads[s * kN + i];
    opt.step(ctx, params, scales.empty() ? 1.0f : scales[size_t(s)]);
  }
  ref.run("optim", json);
  Tensor<float> want = ref.get<float>("w", Shape{kN});
  const double err = test::max_rel_error(p.value, want);
  INFO(opt.type() << " " << json << ": max relative error " << err);
  CHECK(err < 1e-5);
  CHECK(opt.state().at("fc/weights").step == kSteps);
}
}  // namespace

TEST_CASE("SGD matches torch.optim.SGD (momentum, Nesterov, weight decay)", "[optim][torch]") {
  {
    Sgd<float, CPU> sgd({0.1f, 0.0f, 0.0f, false});
    compare_with_torch(sgd, R"({"kind":"sgd","n":1000,"steps":7,"lr":0.1,"momentum":0.0,"weight_decay":0.0,"nesterov":false})");
  }
  {
    Sgd<float, CPU> sgd({0.05f, 0.9f, 0.01f, false});
    compare_with_torch(sgd, R"({"kind":"sgd","n":1000,"steps":7,"lr":0.05,"momentum":0.9,"weight_decay":0.01,"nesterov":false})");
  }
  {
    Sgd<float, CPU> sgd({0.05f, 0.9f, 0.001f, true});
    compare_with_torch(sgd, R"({"kind":"sgd","n":1000,"steps":7,"lr":0.05,"momentum":0.9,"weight_decay":0.001,"nesterov":true})");
  }
}

TEST_CASE("Adam matches torch.optim.Adam (defaults, weight decay, lr multiplier, schedule)", "[optim][torch]") {
  {
    Adam<float, CPU> adam;  // PyTorch's and TensorFlow's defaults
    compare_with_torch(adam, R"({"kind":"adam","n":1000,"steps":7,"lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-8,"weight_decay":0.0})");
  }
  {
    Adam<float, CPU> adam({0.01f, 0.8f, 0.99f, 1e-6f, 0.05f});
    compare_with_torch(adam, R"({"kind":"adam","n":1000,"steps":7,"lr":0.01,"beta1":0.8,"beta2":0.99,"eps":1e-6,"weight_decay":0.05})");
  }
  {
    // lr_mult 10 on a base rate of 1e-4 is torch's rate 1e-3; a schedule varies it per step.
    Adam<float, CPU> adam({1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f});
    compare_with_torch(adam, R"({"kind":"adam","n":1000,"steps":7,"lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-8,"weight_decay":0.0,"lr_scales":[1,1,0.5,0.5,0.25,0.25,0.1]})",
                       10.0f, {1, 1, 0.5f, 0.5f, 0.25f, 0.25f, 0.1f});
  }
}

TEST_CASE("Optimizers skip frozen parameters and demand gradients", "[optim]") {
  Context<CPU> ctx;
  Param<float, CPU> p;
  p.value.resize(Shape{4});
  p.value.fill(1.0f);
  p.trainable = false;
  std::vector<ParamRef<float, CPU>> params{{"x/weights", &p}};
  Adam<float, CPU> adam;
  adam.step(ctx, params);
  CHECK(p.value[0] == 1.0f);
  CHECK(adam.state().empty());
  p.trainable = true;
  CHECK_THROWS_WITH(adam.step(ctx, params), Catch::Contains("x/weights has no gradient"));
}

TEST_CASE("Schedules and stage strings", "[optim]") {
  Schedule step = Schedule::parse("step:3:0.5", 10);
  CHECK(step.factor(0) == 1.0f);
  CHECK(step.factor(2.9) == 1.0f);
  CHECK(step.factor(3) == 0.5f);
  CHECK(step.factor(6.5) == 0.25f);
  Schedule cos = Schedule::parse("cosine", 10);
  CHECK(cos.factor(0) == Approx(1.0));
  CHECK(cos.factor(5) == Approx(0.5));
  CHECK(cos.factor(10) == Approx(0.0).margin(1e-7));
  CHECK(Schedule::parse("constant", 3).factor(2) == 1.0f);
  CHECK_THROWS_WITH(Schedule::parse("linear", 3), Catch::Contains("expected constant"));

  auto st = parse_stages("fc8:5,conv5_1:3:0.1");
  REQUIRE(st.size() == 2);
  CHECK(st[0].from == "fc8");
  CHECK(st[0].epochs == 5);
  CHECK(st[0].lr_scale == 1.0f);
  CHECK(st[1].from == "conv5_1");
  CHECK(st[1].epochs == 3);
  CHECK(st[1].lr_scale == Approx(0.1f));
  CHECK_THROWS_WITH(parse_stages("fc8"), Catch::Contains("LAYER:EPOCHS"));
  CHECK_THROWS_WITH(parse_stages("fc8:x"), Catch::Contains("bad epoch count"));
  CHECK_THROWS_WITH(parse_stages(""), Catch::Contains("no stage"));
}
