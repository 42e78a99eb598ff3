// [torch] [graph]: torchvision ResNets with random weights and non-trivial BatchNorms (running
// statistics measured and then perturbed, random scales and offsets), their state_dicts saved
// by NumPy as they are (np.savez of the arrays by key), loaded into graft's nn::resnet18 /
// resnet50 by name: the probabilities match PyTorch's in eval mode. Also a BasicBlock in
// training mode (batch statistics, running statistics updated, gradients), and bad
// state_dicts: an error naming the file and the key, nothing loaded.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "graft/cpu.hpp"
#include "graft/io.hpp"
#include "graft/nn/nn.hpp"
#include "graft/nn/resnet.hpp"
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
std::string json_case(const std::string& arch, int classes, int side, int batch) {
  return "{\"seed\":3,\"arch\":\"" + arch + "\",\"classes\":" + std::to_string(classes) + ",\"side\":" +
         std::to_string(side) + ",\"x\":[" + std::to_string(batch) + ",3," + std::to_string(side) + "," +
         std::to_string(side) + "]}";
}
}  // namespace

TEST_CASE("torchvision ResNet state_dicts load into nn::resnet18/50: probabilities match PyTorch's",
          "[torch][graph]") {
  struct Case { const char* arch; int side, batch, classes; };
  // resnet18: BasicBlocks; resnet50: Bottlenecks with the stride on the 3x3 conv (v1.5).
  const Case cases[] = {{"resnet18", 64, 2, 10}, {"resnet50", 64, 1, 7}};
  for (const auto& k : cases) {
    INFO(k.arch << " at " << k.side << "x" << k.side << ", batch " << k.batch);
    test::TorchRef ref;
    Tensor<float> x(Shape{k.batch, 3, k.side, k.side});
    test::fill_normal(x, 21, 1.0);  // the scale of ImageNet-normalised pixels
    ref.put("x", x);
    ref.run("resnet_torchvision", json_case(k.arch, k.classes, k.side, k.batch));
    const std::string file = ref.dir() + "/resnet.npz";
    CHECK(nn::weights_kind(file) == nn::WeightsKind::torchvision);

    auto net = nn::resnet_by_name<float>(k.arch, k.classes, {k.side, 1.0});
    REQUIRE(net);
    const nn::LoadReport rep = nn::load_weights_file(net->layers(), file);
    CHECK(rep.initial.empty());  // every parameter and running statistic came from the file
    size_t entries = 0;
    for (auto* l : net->layers()) entries += l->params().size() + l->buffers().size();
    CHECK(rep.loaded.size() == entries);
    for (const auto& s : rep.ignored) CHECK(s.find("num_batches_tracked") != std::string::npos);
    CHECK(!rep.ignored.empty());

    net->set_training(false);
    const Tensor<float>& logits = net->forward(x);
    const Tensor<float> want_logits = ref.get<float>("logits", Shape{k.batch, k.classes});
    const Tensor<float> want = ref.get<float>("probs", Shape{k.batch, k.classes});
    const double dp = max_abs_diff(softmax_rows(logits), want);
    const double dz = test::max_rel_error(logits, want_logits);
    INFO("probabilities: max abs diff " << dp << "; logits: max relative error " << dz);
    // float32 through 20 (resnet18) or 53 (resnet50) convolutions, summed in other orders
    // than PyTorch's: agreement to ~1e-6 is what to expect; 1e-4 leaves room for it.
    CHECK(dp < 1e-4);
    CHECK(dz < 1e-4);
  }
}

TEST_CASE("A bad torchvision state_dict is an error naming the file and the key, and nothing is loaded",
          "[torch][graph]") {
  test::TorchRef ref;
  Tensor<float> x(Shape{1, 3, 32, 32});
  test::fill_normal(x, 4, 1.0);
  ref.put("x", x);
  ref.run("resnet_torchvision", json_case("resnet18", 3, 32, 1));
  const std::string good = ref.dir() + "/resnet.npz";
  std::vector<io::NamedArray> arrays = io::read_npz(good);

  auto net = nn::resnet18<float>(3, {32, 1.0});
  net->initialize(9);
  Tensor<float> before;
  copy(*net->find("layer2.0.bn1").buffers().at(1).tensor, before);  // "variance"
  Tensor<float> conv1_before;
  copy(net->find("conv1").params().at(0)->value, conv1_before);
  auto unchanged = [&] {
    Tensor<float> a, b;
    copy(*net->find("layer2.0.bn1").buffers().at(1).tensor, a);
    copy(net->find("conv1").params().at(0)->value, b);
    return max_abs_diff(a, before) == 0 && max_abs_diff(b, conv1_before) == 0;
  };
  // The message of the error loading file raises (a failure if it raises none).
  auto load_error = [&](const std::string& file) {
    try {
      nn::load_weights_file(net->layers(), file);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    FAIL("no error");
    return std::string();
  };

  SECTION("a key of the wrong shape") {
    const std::string bad = ref.dir() + "/wrong_shape.npz";
    for (auto& a : arrays)
      if (a.name == "layer2.0.bn1.running_var") a.array = io::Array(io::DType::f4, Shape{3});
    io::write_npz(bad, arrays, io::Compression::stored);
    {
      const std::string m = load_error(bad);
      INFO(m);
      CHECK(m.find(bad) != std::string::npos);
      CHECK(m.find("layer2.0.bn1.running_var") != std::string::npos);
      CHECK(m.find("(3,)") != std::string::npos);    // the file's shape
      CHECK(m.find("(128,)") != std::string::npos);  // the network's
    }
    CHECK(unchanged());
  }
  SECTION("a missing key") {
    const std::string bad = ref.dir() + "/missing.npz";
    std::vector<io::NamedArray> kept;
    for (auto& a : arrays)
      if (a.name != "layer3.1.conv2.weight") kept.push_back(a);
    io::write_npz(bad, kept, io::Compression::stored);
    {
      const std::string m = load_error(bad);
      INFO(m);
      CHECK(m.find(bad) != std::string::npos);
      CHECK(m.find("layer3.1.conv2.weight") != std::string::npos);
    }
    CHECK(unchanged());
    // ... unless that layer is meant to start afresh
    nn::LoadOptions o;
    o.skip = {"layer3.1.conv2"};
    const nn::LoadReport rep = nn::load_weights_file(net->layers(), bad, "", o);
    CHECK(rep.initial == std::vector<std::string>{"layer3.1.conv2/weights"});
  }
}

TEST_CASE("A BasicBlock in training mode matches torchvision's: output, gradients, running statistics",
          "[torch][graph]") {
  const int64_t n = 4, cin = 8, planes = 16, side = 10;
  test::TorchRef ref;
  Tensor<float> x(Shape{n, cin, side, side}), dy(Shape{n, planes, side / 2, side / 2});
  test::fill_normal(x, 31, 1.0);
  test::fill_normal(dy, 32, 1.0);
  ref.put("x", x);
  ref.put("dy", dy);
  ref.run("basic_block_train", "{\"seed\":7,\"cin\":8,\"planes\":16,\"stride\":2,\"x\":[4,8,10,10]}");

  nn::Network<float> net(Shape{cin, side, side});
  CHECK(nn::basic_block(net, "block", planes, 2) == "block.relu");
  CHECK(net.index_of("block.downsample.0") >= 0);  // stride 2 and 8 -> 16 channels
  nn::load_weights_file(net.layers(), ref.dir() + "/block.npz");
  net.set_training(true);
  Tensor<float> y;
  copy(net.forward(x), y);
  net.backward(dy);
  auto grad = [&](const std::string& node) {
    Tensor<float> g;
    copy(net.find(node).params().at(0)->grad, g);
    return g;
  };
  auto buffer = [&](const std::string& node, size_t i) {
    Tensor<float> b;
    copy(*net.find(node).buffers().at(i).tensor, b);
    return b;
  };
  const Shape w1{planes, cin, 3, 3}, wd{planes, cin, 1, 1};
  const double ey = test::max_rel_error(y, ref.get<float>("y", y.shape()));
  const double e1 = test::max_rel_error(grad("block.conv1"), ref.get<float>("dw_conv1", w1));
  const double ed = test::max_rel_error(grad("block.downsample.0"), ref.get<float>("dw_down", wd));
  const double em = test::max_rel_error(buffer("block.bn1", 0), ref.get<float>("mean_bn1", Shape{planes}));
  const double ev = test::max_rel_error(buffer("block.bn1", 1), ref.get<float>("var_bn1", Shape{planes}));
  INFO("relative errors: y " << ey << ", conv1 dW " << e1 << ", downsample dW " << ed << ", bn1 running mean "
                             << em << ", running variance " << ev);
  // float32 with batch statistics: 1e-4 of the reference's scale.
  CHECK(ey < 1e-4);
  CHECK(e1 < 1e-4);
  CHECK(ed < 1e-4);
  CHECK(em < 1e-4);
  CHECK(ev < 1e-4);
}
