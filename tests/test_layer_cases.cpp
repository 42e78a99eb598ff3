// Every layer case of tests/support/layer_cases.hpp, one Catch2 test case each:
//   [gradcheck] "gradcheck: <case>"  Layer<double, CPU>: backward against central finite
//               differences (step 1e-6) of L = sum(y .* r), r random, for every element of
//               every input and trainable parameter; tolerance case.tol.gradcheck (1e-6).
//   [torch]     "torch: <case>"      Layer<float, CPU>: y, every dx and every parameter
//               gradient against the case's PyTorch expression (autograd from the same dy),
//               and every buffer after the forward (running statistics); tolerance
//               case.tol.torch (1e-4).
// An input whose gradient a case does not request (case.skip_dx) gets a null dx, and its
// poisoned tensor must come back untouched. Outputs and gradients are poisoned (NaN) before
// the layer writes them; inputs and
// parameters are seeded random values, never zeros.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "graft/cpu.hpp"
#include "support/case_registry.hpp"
#include "support/gradcheck.hpp"
#include "support/layer_cases.hpp"
#include "support/random_fill.hpp"
#include "support/torch_ref.hpp"

using namespace graft;
using test::LayerCase;

namespace {

template <class T>
void fill_input(Tensor<T>& t, test::InputFill fill, uint64_t seed) {
  if (fill == test::InputFill::distinct)
    test::fill_distinct(t, seed);
  else
    test::fill_normal(t, seed);
}

// A case's layer, set up on its inputs with random parameters and buffers.
template <class T>
struct Built {
  Context<CPU> ctx;
  std::unique_ptr<Layer<T, CPU>> layer;
  std::vector<Tensor<T>> xs;
  Shape out;
};

template <class T>
void build(const LayerCase<T, CPU>& c, uint64_t seed, Built<T>& b) {
  b.layer = c.make();
  b.out = b.layer->setup(c.inputs, b.ctx);
  b.layer->set_training(c.training);
  for (auto* p : b.layer->params()) test::fill_normal(p->value, seed++, c.param_scale);
  for (auto& buf : b.layer->buffers()) test::fill_uniform(*buf.tensor, seed++, c.buffer_fill, 2 * c.buffer_fill);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    b.xs.emplace_back(c.inputs[i]);
    fill_input(b.xs.back(), c.fill, seed++);
  }
}

// Input i's gradient is not requested (case.skip_dx): backward gets a null dx.
template <class T>
bool skipped(const LayerCase<T, CPU>& c, size_t i) {
  return i < 32 && ((c.skip_dx >> i) & 1u);
}

// Still poisoned: nothing wrote it.
template <class T>
bool all_nan(const Tensor<T>& t) {
  for (int64_t i = 0; i < t.size(); ++i)
    if (!std::isnan(t[i])) return false;
  return t.size() > 0;
}

template <class T>
std::vector<const Tensor<T>*> pointers(const std::vector<Tensor<T>>& v) {
  std::vector<const Tensor<T>*> r;
  for (auto& t : v) r.push_back(&t);
  return r;
}

void run_gradcheck(const LayerCase<double, CPU>& c) {
  Built<double> b;
  build(c, 11, b);
  Layer<double, CPU>& l = *b.layer;
  auto forward = [&](Tensor<double>& y) {
    if (c.before_forward) c.before_forward(l);
    l.forward_multi(pointers(b.xs), y);
  };
  Tensor<double> y;
  forward(y);
  REQUIRE(y.shape() == b.out);
  Tensor<double> r(y.shape());
  test::fill_normal(r, 7);
  auto loss = [&] {
    Tensor<double> yy;
    forward(yy);
    double s = 0;
    for (int64_t i = 0; i < yy.size(); ++i) s += yy[i] * r[i];
    return s;
  };
  std::vector<Tensor<double>> dxs;
  l.backward_multi(pointers(b.xs), y, r, test::poisoned_grads(l, b.xs, dxs, [&](size_t i) { return skipped(c, i); }));
  const double eps = 1e-6;
  auto numeric = [&](Tensor<double>& v) { return test::numeric_gradient(v, loss, eps); };
  for (size_t i = 0; i < b.xs.size(); ++i) {
    if (skipped(c, i)) {
      INFO("input " << i << ": gradient not requested, written anyway");
      CHECK(all_nan(dxs[i]));
      continue;
    }
    const double err = test::grad_error(dxs[i], numeric(b.xs[i]));
    INFO("input " << i << " gradient error " << err << " (tolerance " << c.tol.gradcheck << ")");
    CHECK(err < c.tol.gradcheck);
  }
  for (auto* p : l.params()) {
    if (!p->trainable) continue;
    Tensor<double> analytic = clone(p->grad);
    const double err = test::grad_error(analytic, numeric(p->value));
    INFO("parameter " << p->name << " gradient error " << err << " (tolerance " << c.tol.gradcheck << ")");
    CHECK(err < c.tol.gradcheck);
  }
}

std::string json_dims(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < s.rank(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

std::string json_string(const std::string& s) {
  std::string r = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') r += '\\';
    r += ch;
  }
  return r + "\"";
}

void expect_close(const std::string& what, const Tensor<float>& got, const Tensor<float>& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  const double err = test::max_rel_error(got, want);
  INFO(what << ": max relative error " << err << " (tolerance " << tol << ")");
  CHECK(err < tol);
}

void run_torch(const LayerCase<float, CPU>& c) {
  test::TorchRef ref;
  Built<float> b;
  build(c, 21, b);
  Layer<float, CPU>& l = *b.layer;
  std::vector<Tensor<float>> buffers_before;
  for (auto& buf : l.buffers()) buffers_before.push_back(clone(*buf.tensor));
  Tensor<float> y;
  poison(y);
  if (c.before_forward) c.before_forward(l);
  l.forward_multi(pointers(b.xs), y);
  Tensor<float> dy(y.shape());
  test::fill_normal(dy, 4);
  std::vector<Tensor<float>> dxs;
  l.backward_multi(pointers(b.xs), y, dy, test::poisoned_grads(l, b.xs, dxs, [&](size_t i) { return skipped(c, i); }));

  std::ostringstream js;
  js << "{\"expr\":" << json_string(c.torch) << ",\"inputs\":[";
  for (size_t i = 0; i < b.xs.size(); ++i) {
    js << (i ? "," : "") << json_dims(b.xs[i].shape());
    ref.put("x" + std::to_string(i), b.xs[i]);
  }
  js << "],\"params\":{";
  bool first = true;
  for (auto* p : l.params()) {
    js << (first ? "" : ",") << json_string(p->name) << ":" << json_dims(p->value.shape());
    ref.put("p_" + p->name, p->value);
    first = false;
  }
  js << "},\"buffers\":{";
  first = true;
  const auto buffers = l.buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    js << (first ? "" : ",") << json_string(buffers[i].name) << ":" << json_dims(buffers_before[i].shape());
    ref.put("b_" + buffers[i].name, buffers_before[i]);  // as they were before the forward
    first = false;
  }
  js << "}}";
  ref.put("dy", dy);
  {
    std::ofstream f(ref.dir() + "/case.json");
    f << js.str();
  }
  INFO("torch: " << c.torch);
  ref.run("layer_case", "{}");
  expect_close("y", y, ref.get<float>("y", y.shape()), c.tol.torch);
  for (size_t i = 0; i < dxs.size(); ++i) {
    if (skipped(c, i)) {
      INFO("input " << i << ": gradient not requested, written anyway");
      CHECK(all_nan(dxs[i]));
      continue;
    }
    expect_close("dx" + std::to_string(i), dxs[i], ref.get<float>("dx" + std::to_string(i), b.xs[i].shape()),
                 c.tol.torch);
  }
  for (auto* p : l.params())
    if (p->trainable) expect_close("d" + p->name, p->grad, ref.get<float>("dp_" + p->name, p->value.shape()), c.tol.torch);
  for (auto& buf : buffers)  // after graft's one forward and torch's
    expect_close("buffer " + buf.name, *buf.tensor, ref.get<float>("b_out_" + buf.name, buf.tensor->shape()),
                 c.tol.torch);
}

const bool registered = [] {
  const auto dcases = test::layer_cases<double, CPU>();
  for (size_t i = 0; i < dcases.size(); ++i)
    if (dcases[i].checks & test::kGradcheck)
      test::register_case("gradcheck: " + dcases[i].name, "[gradcheck][layer_cases]",
                          [i] { run_gradcheck(test::layer_cases<double, CPU>()[i]); });
  const auto fcases = test::layer_cases<float, CPU>();
  for (size_t i = 0; i < fcases.size(); ++i)
    if (fcases[i].checks & test::kTorch) {
      if (fcases[i].torch.empty()) continue;  // torch_note says why
      test::register_case("torch: " + fcases[i].name, "[torch][layer_cases]",
                          [i] { run_torch(test::layer_cases<float, CPU>()[i]); });
    }
  return true;
}();

}  // namespace

TEST_CASE("layer cases: names are unique, every case has an input and a PyTorch reference or a reason",
          "[layer_cases]") {
  const auto cases = test::layer_cases<float, CPU>();
  REQUIRE(!cases.empty());
  std::set<std::string> names;
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(names.insert(c.name).second);
    CHECK(!c.inputs.empty());
    CHECK(c.torch.empty() != c.torch_note.empty());
    Context<CPU> ctx;
    auto l = c.make();
    CHECK_NOTHROW(l->setup(c.inputs, ctx));
  }
}
