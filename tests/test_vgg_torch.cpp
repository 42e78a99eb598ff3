// [torch] [network]: a VGG16-geometry file in the caffe-tensorflow layout, written by NumPy,
// loaded into graft; the logits on a fixed input match PyTorch computing the TensorFlow way
// (NHWC, pool5 flattened in H,W,C order), so the layout transforms — fc6's permutation
// above all — are checked end to end.
#include <catch2/catch.hpp>

#include "graft/cpu.hpp"
#include "graft/io.hpp"
#include "graft/nn/nn.hpp"
#include "support/random_fill.hpp"
#include "support/torch_ref.hpp"

using namespace graft;

TEST_CASE("VGG16 from a caffe-tensorflow file: graft's logits match PyTorch's", "[torch][network]") {
  struct Case { double width; int side; int classes; };
  const Case cases[] = {{0.25, 64, 3}, {0.125, 96, 2}};  // pool5 2x2 and 3x3: fc6 permuted
  for (const auto& k : cases) {
    INFO("width " << k.width << ", input " << k.side);
    test::TorchRef ref;
    Tensor<float> x(Shape{2, 3, k.side, k.side});
    test::fill_normal(x, 17, 40.0);  // the scale of mean-subtracted pixels
    ref.put("x", x);
    ref.run("vgg_caffe_tensorflow", "{\"seed\":5,\"width\":" + std::to_string(k.width) +
                                        ",\"side\":" + std::to_string(k.side) + ",\"classes\":" +
                                        std::to_string(k.classes) + ",\"x\":[2,3," +
                                        std::to_string(k.side) + "," + std::to_string(k.side) + "]}");
    auto net = nn::vgg16<float>(k.classes, {k.width, k.side, 0.5f});
    auto report = nn::load_weights(net->layers(), ref.dir() + "/vgg.npy");
    CHECK(report.str().find("fc6") != std::string::npos);
    net->set_training(false);
    const Tensor<float>& logits = net->forward(x);
    Tensor<float> want = ref.get<float>("logits", Shape{2, k.classes});
    const double err = test::max_rel_error(logits, want);
    INFO("max relative error " << err);
    CHECK(err < 1e-4);
  }
}
