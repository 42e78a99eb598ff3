// [onnx]: ONNX models in and out.
//   import: torchvision's VGG16 (width 1/4, 224x224) and ResNet-18 with random weights and
//     non-trivial BatchNorms, exported by torch.onnx.export at several opsets (BatchNorm
//     folded by the exporter, or kept as BatchNormalization nodes), load into graft's
//     onnx_network and give PyTorch's probabilities.
//   import: a small torch net of PReLU (per channel and shared), LeakyReLU and Softmax in the
//     middle, exported at opsets 13 and 11, gives PyTorch's logits.
//   export: graft's VGG16, ResNet-18, dlib's face ResNet with a gender head and a small net of
//     PRelu, LeakyRelu and Softmax nodes (random weights and slopes, non-trivial BatchNorms
//     and affines) written by nn::save_onnx pass onnx.checker,
//     run in onnxruntime and in OpenCV's dnn module (two runtimes graft does not contain) with
//     graft's probabilities (max |d| <= 1e-4), and read back by graft give the same logits bit
//     for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unistd.h>
#include <string>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/io/onnx.hpp"
#include "graft/nn/nn.hpp"
#include "graft/nn/onnx.hpp"
#include "graft/nn/onnx_export.hpp"
#include "graft/nn/dlib_face.hpp"
#include "support/onnx_files.hpp"
#include "support/random_fill.hpp"
#include "support/torch_ref.hpp"

using namespace graft;

namespace {
Tensor<float> softmax_rows(const Tensor<float>& z) {
  Tensor<float> p(z.shape());
  const int64_t n = z.shape()[0], k = z.shape()[1];
  for (int64_t i = 0; i < n; ++i) {
    double m = z[i * k], s = 0;
    for (int64_t j = 1; j < k; ++j) m = std::max(m, double(z[i * k + j]));
    for (int64_t j = 0; j < k; ++j) s += std::exp(double(z[i * k + j]) - m);
    for (int64_t j = 0; j < k; ++j) p[i * k + j] = float(std::exp(double(z[i * k + j]) - m) / s);
  }
  return p;
}
double max_abs_diff(const Tensor<float>& a, const Tensor<float>& b) {
  double d = 0;
  for (int64_t i = 0; i < b.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return std::isnan(d) ? INFINITY : d;
}
std::string shape_json(const Shape& s) {
  std::string j = "[";
  for (int i = 0; i < s.rank(); ++i) j += (i ? "," : "") + std::to_string(s[i]);
  return j + "]";
}

// Random parameters everywhere a fresh network has constants: biases, BatchNorm statistics,
// scales and offsets (He-normal weights come from initialize).
void randomize(nn::Network<float>& net, uint64_t seed) {
  net.initialize(seed);
  Rng rng(seed + 1000);
  for (auto* l : net.layers()) {
    for (auto* p : l->params()) {
      Tensor<float> h;
      copy_to_host(p->value, h);
      if (p->name == "scale")
        for (auto& v : h) v = 0.5f + rng.uniform();
      else if (p->name == "biases" || p->name == "offset")
        for (auto& v : h) v = float(0.1 * rng.normal());
      else if (p->name == "slope")  // PRelu: both signs, each channel its own
        for (auto& v : h) v = -0.2f + 0.6f * rng.uniform();
      copy_from_host(h, p->value);
    }
    for (auto& b : l->buffers()) {
      Tensor<float> h;
      copy_to_host(*b.tensor, h);
      for (auto& v : h) v = b.name == "variance" ? 0.5f + 1.5f * rng.uniform() : float(0.2 * rng.normal());
      copy_from_host(h, *b.tensor);
    }
  }
}

struct ExportCase {
  const char* name;
  std::unique_ptr<nn::Network<float>> net;
  int batch;
};
void calibrate(nn::Network<float>& net, int batch, uint64_t seed);
Tensor<float> input_for(nn::Network<float>& net, int batch, uint64_t seed);
std::vector<ExportCase> export_cases() {
  std::vector<ExportCase> v;
  v.push_back({"vgg16", nn::vgg16<float>(2, {0.25, 64, 0.5f}), 2});
  v.push_back({"resnet18", nn::resnet18<float>(3, {64, 0.5}), 2});
  auto dlib = nn::dlib_face_resnet<float>();
  dlib->fc("head", 2);
  v.push_back({"dlib-face + head", std::move(dlib), 1});
  v.push_back({"PRelu, LeakyRelu, Softmax", onnxtest::acts_net(), 3});
  uint64_t seed = 7;
  for (auto& c : v) {
    randomize(*c.net, seed);
    c.net->set_training(false);
    calibrate(*c.net, c.batch, seed++);
  }
  return v;
}
Tensor<float> input_for(nn::Network<float>& net, int batch, uint64_t seed) {
  std::vector<int64_t> d{batch};
  for (int64_t k : net.sample_shape().dims()) d.push_back(k);
  Tensor<float> x{Shape(d)};
  test::fill_normal(x, seed, 1.0);
  return x;
}
// Scales the last layer so that the logits on a random input spread by about 1: the
// probabilities are then far from 0 and 1, where a runtime's error would show.
void calibrate(nn::Network<float>& net, int batch, uint64_t seed) {
  const Tensor<float> x = input_for(net, batch, seed + 50);
  const Tensor<float>& z = net.forward(x);
  double s = 0, m = 0;
  for (float v : z) m += v;
  m /= double(z.size());
  for (float v : z) s += (v - m) * (v - m);
  const double sd = std::sqrt(s / double(z.size())) + 1e-12;
  for (auto* p : net.layer(net.size() - 1).params()) {
    Tensor<float> h;
    copy_to_host(p->value, h);
    for (auto& v : h) v = float(v / sd);
    copy_from_host(h, p->value);
  }
}

// A runtime's output for graft's export of each case, against graft's probabilities.
void run_in(const char* op, const std::string& python) {
  for (auto& c : export_cases()) {
    INFO(c.name);
    test::TorchRef ref;
    const Tensor<float> x = input_for(*c.net, c.batch, 3);
    ref.put("x", x);
    nn::OnnxExportOptions o;
    o.metadata = {{"note", "graft test"}};
    nn::save_onnx(*c.net, ref.dir() + "/model.onnx", o);
    const Tensor<float> want = softmax_rows(c.net->forward(x));
    const int rc = python.empty() ? ref.run_script("onnx_ref.py", op, "{\"x\":" + shape_json(x.shape()) + "}", {77})
                                  : ref.run_with(python, "onnx_ref.py", op, "{\"x\":" + shape_json(x.shape()) + "}", {77});
    if (rc == 77) GRAFT_SKIP(std::string(op) + ": the runtime is not installed (see its message above)");
    const Tensor<float> got = ref.get<float>("out", want.shape());
    const double d = max_abs_diff(got, want);
    double lo = 1, hi = 0;
    for (float p : want) {
      lo = std::min(lo, double(p));
      hi = std::max(hi, double(p));
    }
    INFO("max |d| " << d << " (graft's probabilities range over " << lo << " .. " << hi << ")");
    CHECK(d <= 1e-4);
  }
}
}  // namespace

TEST_CASE("torch.onnx.export of torchvision's VGG16 and ResNet-18 loads into graft: PyTorch's probabilities",
          "[onnx][torch]") {
  struct Case { const char* arch; int side, batch, classes, opset; const char* bn; };
  const Case cases[] = {{"vgg16", 224, 2, 7, 13, "fold"},
                        {"resnet18", 64, 2, 10, 9, "fold"},
                        {"resnet18", 64, 2, 10, 17, "keep"},
                        {"resnet18", 96, 1, 5, 11, "keep"}};
  for (const auto& k : cases) {
    INFO(k.arch << " at " << k.side << "x" << k.side << ", opset " << k.opset << ", BatchNorm " << k.bn);
    test::TorchRef ref;
    Tensor<float> x(Shape{k.batch, 3, k.side, k.side});
    test::fill_normal(x, 11, 1.0);
    ref.put("x", x);
    ref.run_script("onnx_ref.py", "torch_export",
                   std::string("{\"seed\":5,\"arch\":\"") + k.arch + "\",\"width\":0.25,\"classes\":" +
                       std::to_string(k.classes) + ",\"opset\":" + std::to_string(k.opset) + ",\"bn\":\"" + k.bn +
                       "\",\"x\":" + shape_json(x.shape()) + "}");
    const io::OnnxModel m = io::read_onnx(ref.dir() + "/model.onnx");
    CHECK(m.opset() == k.opset);
    auto net = nn::onnx_network<float>(m);
    const nn::LoadReport rep = nn::load_onnx(net->layers(), m);
    CHECK(rep.initial.empty());
    int bns = 0;
    for (auto* l : net->layers()) bns += std::string(l->type()) == "BatchNorm2d";
    CHECK((bns > 0) == (std::string(k.bn) == "keep" && std::string(k.arch) != "vgg16"));
    net->set_training(false);
    const Tensor<float>& logits = net->forward(x);
    REQUIRE(logits.shape() == Shape({k.batch, k.classes}));
    const Tensor<float> want = ref.get<float>("probs", Shape{k.batch, k.classes});
    const Tensor<float> want_logits = ref.get<float>("logits", Shape{k.batch, k.classes});
    const double dp = max_abs_diff(softmax_rows(logits), want);
    const double dz = test::max_rel_error(logits, want_logits);
    INFO("probabilities: max abs diff " << dp << "; logits: max relative error " << dz);
    CHECK(dp < 1e-4);
    CHECK(dz < 1e-4);
  }
}

TEST_CASE("torch.onnx.export of PReLU, LeakyReLU and a middle Softmax: PyTorch's logits", "[onnx][torch]") {
  for (int opset : {13, 11}) {
    INFO("opset " << opset);
    test::TorchRef ref;
    Tensor<float> x(Shape{3, 3, 10, 10});
    test::fill_normal(x, 21, 1.0);
    ref.put("x", x);
    ref.run_script("onnx_ref.py", "torch_acts_export",
                   "{\"seed\":9,\"classes\":4,\"opset\":" + std::to_string(opset) + ",\"x\":" + shape_json(x.shape()) +
                       "}");
    const io::OnnxModel m = io::read_onnx(ref.dir() + "/model.onnx");
    REQUIRE(m.opset() == opset);
    auto net = nn::onnx_network<float>(m);
    const nn::LoadReport rep = nn::load_onnx(net->layers(), m);
    CHECK(rep.initial.empty());
    // What the graph became: PRelu per channel (6, then 5 of a 2-d input) and shared, the
    // LeakyRelu's alpha, a Softmax of (n, C, H, W) at opset 13 and of (n, F) at both.
    std::vector<int64_t> slopes;
    int leaky = 0, softmax = 0;
    for (auto* l : net->layers()) {
      if (auto* p = dynamic_cast<PRelu<float>*>(l)) slopes.push_back(p->slopes());
      if (auto* r = dynamic_cast<LeakyRelu<float>*>(l)) {
        ++leaky;
        CHECK(r->alpha() == double(0.2f));
      }
      softmax += std::string(l->type()) == "Softmax";
    }
    CHECK(slopes == std::vector<int64_t>({6, 1, 5}));
    CHECK(leaky == 1);
    CHECK(softmax == (opset >= 13 ? 2 : 1));
    CHECK(std::string(net->layer(net->size() - 1).type()) == "Linear");
    net->set_training(false);
    const Tensor<float>& logits = net->forward(x);
    REQUIRE(logits.shape() == Shape({3, 4}));
    const Tensor<float> want = ref.get<float>("logits", Shape{3, 4});
    const double dz = test::max_rel_error(logits, want);
    INFO("logits: max relative error " << dz);
    CHECK(dz < 1e-5);
  }
}

TEST_CASE("ONNX export of PRelu slopes, LeakyRelu's alpha and Softmax's axis", "[onnx]") {
  auto net = onnxtest::acts_net();
  const io::OnnxModel m = nn::onnx_model(*net);
  auto init = [&](const std::string& name) -> const io::Array& {
    for (const auto& t : m.graph.initializers)
      if (t.name == name) return t.data;
    throw Error("no initializer " + name);
  };
  CHECK(init("prelu1.slope").shape() == Shape({4, 1, 1}));  // of (n, 4, 8, 8)
  CHECK(init("prelu2.slope").shape() == Shape({1}));        // shared
  CHECK(init("prelu3.slope").shape() == Shape({5}));        // of (n, 5)
  int softmax = 0;
  for (const auto& n : m.graph.nodes) {
    if (n.op_type == "LeakyRelu") {
      REQUIRE(n.attr("alpha"));
      CHECK(n.attr("alpha")->f == 0.2f);
    }
    if (n.op_type == "Softmax") {
      ++softmax;
      REQUIRE(n.attr("axis"));
      CHECK(n.attr("axis")->i == 1);
    }
  }
  CHECK(softmax == 3);  // softmax1, softmax3 and the final probabilities
  // Before opset 13 axis 1 of a 4-d input would be a softmax over C, H and W together.
  nn::OnnxExportOptions o;
  o.opset = 11;
  CHECK_THROWS_WITH(nn::onnx_model(*net, o),
                    Catch::Contains("save_onnx: node 'softmax1' (Softmax): a Softmax over the channels of (1, 4, 8, 8) "
                                    "needs opset 13 or later"));
}

TEST_CASE("graft's ONNX exports pass onnx.checker", "[onnx]") {
  for (auto& c : export_cases()) {
    INFO(c.name);
    for (bool fold : {false, true}) {
      test::TorchRef ref;
      nn::OnnxExportOptions o;
      o.fold_batch_norm = fold;
      o.metadata = {{"classes", "m,f"}};
      nn::save_onnx(*c.net, ref.dir() + "/model.onnx", o);
      if (ref.run_script("onnx_ref.py", "check", "{}", {77}) == 77) GRAFT_SKIP("no onnx Python package (python3-onnx)");
    }
  }
}

TEST_CASE("graft's ONNX exports run in onnxruntime with graft's probabilities", "[onnx]") {
  const char* env = std::getenv("GRAFT_ONNXRUNTIME_PYTHON");
  std::string py = env ? env : "";
  if (py.empty()) {
    const char* cache = std::getenv("GRAFT_CACHE");
    const char* home = std::getenv("HOME");
    py = (cache ? std::string(cache) : std::string(home ? home : "") + "/.cache/graft") + "/venv-onnx/bin/python";
  }
  if (access(py.c_str(), X_OK) != 0)
    GRAFT_SKIP("no onnxruntime environment at " + py + " (cmake/fetch-onnxruntime.sh makes it; tests/run calls it)");
  run_in("onnxruntime_run", py);
}

TEST_CASE("graft's ONNX exports run in OpenCV's dnn module with graft's probabilities", "[onnx]") {
  run_in("opencv_run", "");
}

TEST_CASE("graft -> ONNX -> graft is exact", "[onnx]") {
  for (auto& c : export_cases()) {
    INFO(c.name);
    const Tensor<float> x = input_for(*c.net, c.batch, 5);
    Tensor<float> want;
    copy_to_host(c.net->forward(x), want);
    for (bool fold : {false, true}) {
      INFO("fold_batch_norm " << fold);
      nn::OnnxExportOptions o;
      o.fold_batch_norm = fold;
      io::OnnxModel m = nn::onnx_model(*c.net, o);
      m.file = std::string(c.name) + ".onnx";
      // Through the bytes, as a file would be.
      const std::string bytes = io::onnx_bytes(m);
      io::MemorySource src(bytes.data(), bytes.size(), m.file);
      const io::OnnxModel back = io::read_onnx(src);
      auto net = nn::onnx_network<float>(back);
      const nn::LoadReport rep = nn::load_onnx(net->layers(), back);
      CHECK(rep.initial.empty());
      net->set_training(false);
      const Tensor<float>& got = net->forward(x);
      REQUIRE(got.shape() == want.shape());
      if (!fold) {
        // The same nodes by name, the same parameters bit for bit, the same logits.
        for (auto* l : c.net->layers()) {
          if (std::string(l->type()) == "Dropout") continue;
          const int k = net->index_of(l->name());
          INFO("node " << l->name());
          REQUIRE(k >= 0);
          auto ps = l->params();
          auto qs = net->layer(size_t(k)).params();
          REQUIRE(ps.size() == qs.size());
          for (size_t j = 0; j < ps.size(); ++j) {
            Tensor<float> a, b;
            copy_to_host(ps[j]->value, a);
            copy_to_host(qs[j]->value, b);
            REQUIRE(a.shape() == b.shape());
            CHECK(std::memcmp(a.data(), b.data(), a.bytes()) == 0);
          }
        }
        CHECK(std::memcmp(got.data(), want.data(), want.bytes()) == 0);
      } else {
        CHECK(test::max_rel_error(got, want) < 1e-5);
      }
    }
  }
}
