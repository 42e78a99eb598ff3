// [onnx]: ONNX models in and out.
//   import: torchvision's VGG16 (width 1/4, 224x224) and ResNet-18 with random weights and
//     non-trivial BatchNorms, exported by torch.onnx.export at several opsets (BatchNorm
//     folded by the exporter, or kept as BatchNormalization nodes), load into graft's
//     onnx_network and give PyTorch's probabilities.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/io/onnx.hpp"
#include "graft/nn/nn.hpp"
#include "graft/nn/onnx.hpp"
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
