// [caffe] Caffe models read without Caffe: the real LeNet against Python's protobuf and
// PyTorch, VGG-shaped V1 and V2 models written at test time by Python's protobuf and
// converted array by array against NumPy, and loading into networks built by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "graft/cpu.hpp"
#include "graft/io.hpp"
#include "graft/nn/caffe.hpp"
#include "support/caffe_ref.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using caffetest::CaffeRef;

namespace {

// graft's network on x against caffe_ref.py's PyTorch forward of the same model.
void expect_forward_matches(const CaffeRef& ref, nn::Network<float>& net, const std::string& model,
                            const std::string& arch, const Shape& input, uint64_t seed) {
  Tensor<float> x(input);
  test::fill_uniform(x, seed, -1.0, 1.0);
  caffetest::write_file(ref.path("x.bin"), std::string(reinterpret_cast<const char*>(x.data()), x.bytes()));
  ref.make("forward " + caffetest::shell_quote(model) + " " + caffetest::shell_quote(arch) + " " +
           caffetest::shell_quote(ref.dir()));
  const Tensor<float>& y = net.forward(x);
  Tensor<float> want_y(y.shape()), want_p(y.shape());
  const std::string yb = caffetest::read_file(ref.path("y.bin")), pb = caffetest::read_file(ref.path("p.bin"));
  REQUIRE(yb.size() == size_t(y.bytes()));
  REQUIRE(pb.size() == size_t(y.bytes()));
  std::memcpy(want_y.data(), yb.data(), yb.size());
  std::memcpy(want_p.data(), pb.data(), pb.size());
  const double err = test::max_rel_error(y, want_y);
  INFO("output: max relative error " << err);
  CHECK(err < 1e-4);
  SoftmaxCrossEntropy<float> softmax;
  softmax.setup(net.context());
  softmax.predict(y);
  const double perr = test::max_rel_error(softmax.probabilities(), want_p);
  INFO("softmax: max relative error " << perr);
  CHECK(perr < 1e-4);
}

// Every graft parameter equals the Caffe blob that protobuf reads (graft's layouts are Caffe's).
void expect_params_are_blobs(nn::Network<float>& net, const std::vector<CaffeRef::Blob>& blobs,
                             const std::vector<std::string>& except = {}) {
  size_t checked = 0;
  for (const auto& b : blobs) {
    if (std::find(except.begin(), except.end(), b.layer) != except.end()) continue;
    INFO(b.layer << " blob " << b.index);
    auto* p = net.find(b.layer).params().at(size_t(b.index));
    REQUIRE(b.dtype == "float32");
    REQUIRE(size_t(p->value.bytes()) == b.bytes.size());
    CHECK(std::memcmp(p->value.data(), b.bytes.data(), b.bytes.size()) == 0);
    ++checked;
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("LeNet: every layer and blob as Python's protobuf reads them", "[caffe]") {
  GRAFT_NEED_LENET(dir);
  CaffeRef ref;
  const std::string model = dir + "/lenet_iter_10000.caffemodel";
  std::vector<CaffeRef::LayerRow> layers;
  std::vector<CaffeRef::Blob> blobs;
  ref.read(model, layers, blobs);
  const io::CaffeModel m = io::read_caffemodel(model);
  CHECK(m.format == 2);
  CHECK(m.name == "LeNet");
  REQUIRE(layers.size() == 9);  // the data folder's README: 9 layers
  REQUIRE(m.layers.size() == layers.size());
  size_t k = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const io::CaffeLayer& l = m.layers[i];
    INFO("layer " << i << " " << layers[i].name);
    CHECK(l.name == layers[i].name);
    CHECK(l.type == layers[i].type);
    REQUIRE(l.blobs.size() == size_t(layers[i].blobs));
    for (size_t j = 0; j < l.blobs.size(); ++j, ++k) {
      REQUIRE(k < blobs.size());
      const CaffeRef::Blob& want = blobs[k];
      INFO("blob " << j);
      CHECK(want.layer == l.name);
      CHECK(want.index == int(j));
      CHECK(io::dtype_name(l.blobs[j].data.dtype()) == want.dtype);
      CHECK(l.blobs[j].shape == want.shape);
      CHECK(l.blobs[j].data.shape() == want.shape);
      REQUIRE(l.blobs[j].data.nbytes() == want.bytes.size());
      CHECK(std::memcmp(l.blobs[j].data.data(), want.bytes.data(), want.bytes.size()) == 0);
    }
  }
  CHECK(k == blobs.size());
  CHECK(k == 8);
}

TEST_CASE("LeNet built from its prototxt with its weights: forward matches PyTorch", "[caffe][torch]") {
  GRAFT_NEED_LENET(dir);
  CaffeRef ref(true);
  const std::string model = dir + "/lenet_iter_10000.caffemodel", prototxt = dir + "/lenet.prototxt";
  auto net = nn::caffe_network<float>(prototxt);
  // conv1 20@5x5, pool, conv2 50@5x5, pool, ip1 500, ReLU, ip2 10; the final Softmax is left out.
  const char* names[] = {"conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2"};
  REQUIRE(net->size() == 7);
  for (size_t i = 0; i < 7; ++i) CHECK(net->layer(i).name() == names[i]);
  CHECK(net->sample_shape() == Shape({1, 28, 28}));
  CHECK(net->shape_after(0) == Shape({1, 20, 24, 24}));
  CHECK(net->shape_after(3) == Shape({1, 50, 4, 4}));
  CHECK(net->output_shape() == Shape({1, 10}));
  const nn::LoadReport r = nn::load_caffe(net->layers(), model, prototxt);
  CHECK(r.loaded.size() == 8);
  CHECK(r.initial.empty());
  std::vector<CaffeRef::LayerRow> layers;
  std::vector<CaffeRef::Blob> blobs;
  ref.read(model, layers, blobs);
  expect_params_are_blobs(*net, blobs);
  expect_forward_matches(ref, *net, model, caffetest::lenet_arch(), Shape{2, 1, 28, 28}, 11);
}

TEST_CASE("LeNet converted: caffe-tensorflow's layout, as NumPy computes it", "[caffe]") {
  GRAFT_NEED_LENET(dir);
  CaffeRef ref;
  const std::string model = dir + "/lenet_iter_10000.caffemodel";
  const io::WeightsDict w = nn::convert_caffe(model, dir + "/lenet.prototxt", ref.path("lenet.npy"));
  nn::convert_caffe(model, dir + "/lenet.prototxt", ref.path("lenet.npz"));
  CHECK(w.array_count() == 8);
  CHECK(w.at("ip1", "weights").shape() == Shape({800, 500}));  // rows of pool2's 50x4x4 in H,W,C order
  CHECK(ref.check_convert(model, caffetest::lenet_arch(), ref.path("lenet.npy"), ref.path("lenet.npz")));
}

TEST_CASE("VGG-like V1 and V2 models written by protobuf: converted array by array", "[caffe]") {
  CaffeRef ref;
  struct Case {
    int version;
    bool packed, dbl;
    const char* what;
  };
  const Case cases[] = {{1, false, false, "V1, values one field each"},
                        {1, true, false, "V1, packed"},
                        {2, true, false, "V2, packed"},
                        {2, false, true, "V2, double_data, unpacked"}};
  int n = 0;
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string arch = caffetest::vgg_arch(c.version, c.packed, c.dbl, 5 + n);
    const std::string d = ref.write("m" + std::to_string(++n), arch);
    const io::CaffeModel m = io::read_caffemodel(d + "/net.caffemodel");
    CHECK(m.format == c.version);
    const io::CaffeNet net = io::read_prototxt(d + "/net.prototxt");
    CHECK(net.format == c.version);
    CHECK(net.input_shape == Shape({2, 3, 18, 18}));
    const io::WeightsDict w = nn::convert_caffe(d + "/net.caffemodel", d + "/net.prototxt", d + "/out.npy");
    nn::convert_caffe(d + "/net.caffemodel", d + "/net.prototxt", d + "/out.npz", io::WeightsFormat::npz_compressed);
    // pool2 rounds 9 up to 5, so fc6 takes 6x5x5 = 150 features.
    CHECK(w.at("fc6", "weights").shape() == Shape({150, 7}));
    CHECK(w.at("conv2_1", "weights").shape() == Shape({3, 3, 4, 6}));
    CHECK(w.at("fc8", "biases").dtype() == (c.dbl ? io::DType::f8 : io::DType::f4));
    CHECK(ref.check_convert(d + "/net.caffemodel", arch, d + "/out.npy", d + "/out.npz"));
  }
}

TEST_CASE("A V1 VGG-like model: built from its prototxt, loaded, forward matches PyTorch", "[caffe][torch]") {
  CaffeRef ref(true);
  const std::string arch = caffetest::vgg_arch(1, false);
  const std::string d = ref.write("v1", arch);
  auto net = nn::caffe_network<float>(d + "/net.prototxt");
  CHECK(net->shape_after(net->index_of("pool2")) == Shape({1, 6, 5, 5}));  // Caffe rounds up
  CHECK(std::string(net->find("drop6").type()) == "Dropout");
  CHECK(net->output_shape() == Shape({1, 3}));
  const nn::LoadReport r = nn::load_caffe(net->layers(), d + "/net.caffemodel", d + "/net.prototxt");
  CHECK(r.loaded.size() == 12);
  CHECK(r.initial.empty());
  std::vector<CaffeRef::LayerRow> layers;
  std::vector<CaffeRef::Blob> blobs;
  ref.read(d + "/net.caffemodel", layers, blobs);
  CHECK(layers.size() == 16);
  expect_params_are_blobs(*net, blobs);
  net->set_training(false);
  expect_forward_matches(ref, *net, d + "/net.caffemodel", arch, Shape{2, 3, 18, 18}, 12);
}

TEST_CASE("load_caffe into a network with a new head: the trunk from the file, fc8 skipped", "[caffe]") {
  CaffeRef ref;
  const std::string d = ref.write("v1", caffetest::vgg_arch(1, true));
  // What a trainer does: its own network (the same trunk, a 2-class fc8), the Caffe weights.
  nn::Network<float> net(Shape{3, 18, 18});
  net.conv("conv1_1", 4, 3, 1, 1).relu().conv("conv1_2", 4, 3, 1, 1).relu().max_pool("pool1", 2, 2, 0, true);
  net.conv("conv2_1", 6, 3, 1, 1).relu().max_pool("pool2", 2, 2, 0, true);
  net.fc("fc6", 7).relu().dropout(0.5f).fc("fc7", 5).relu().dropout(0.5f).fc("fc8", 2);
  Tensor<float> fc8_before;
  copy_to_host(net.find("fc8").params()[0]->value, fc8_before);
  const nn::LoadReport r = nn::load_caffe(net.layers(), d + "/net.caffemodel", d + "/net.prototxt", {{"fc8"}});
  CHECK(r.loaded.size() == 10);
  CHECK(r.skipped == std::vector<std::string>{"fc8/weights", "fc8/biases"});
  CHECK(r.initial == std::vector<std::string>{"fc8/weights", "fc8/biases"});
  std::vector<CaffeRef::LayerRow> layers;
  std::vector<CaffeRef::Blob> blobs;
  ref.read(d + "/net.caffemodel", layers, blobs);
  expect_params_are_blobs(net, blobs, {"fc8"});
  const Tensor<float>& fc8 = net.find("fc8").params()[0]->value;
  CHECK(std::equal(fc8.begin(), fc8.end(), fc8_before.begin()));
  // Without the skip, fc8's 3 outputs do not fit the network's 2, and nothing is written.
  Tensor<float> conv_before;
  net.initialize(9);
  copy_to_host(net.find("conv1_1").params()[0]->value, conv_before);
  CHECK_THROWS_WITH(nn::load_caffe(net.layers(), d + "/net.caffemodel", d + "/net.prototxt"),
                    Catch::StartsWith(d + "/net.caffemodel: ") && Catch::Contains("fc8/weights") &&
                        Catch::Contains("(5, 3)") && Catch::Contains("(5, 2)"));
  const Tensor<float>& conv = net.find("conv1_1").params()[0]->value;
  CHECK(std::equal(conv.begin(), conv.end(), conv_before.begin()));
}

TEST_CASE("caffe_weights: the fc permutation on a small model, by hand", "[caffe]") {
  iotest::TempDir tmp;
  caffetest::write_file(tmp.path("m.caffemodel"), caffetest::small_model());
  // conv1 (2, 1, 3, 3) on 1x4x4 -> 2x2x2, then fc (3, 8): its 8 inputs are C=2, H=2, W=2.
  const std::string proto =
      "input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
      "layers { name: \"conv1\" type: CONVOLUTION bottom: \"data\" top: \"conv1\" convolution_param { num_output: 2 kernel_size: 3 } }\n"
      "layers { name: \"relu1\" type: RELU bottom: \"conv1\" top: \"conv1\" }\n"
      "layers { name: \"fc\" type: INNER_PRODUCT bottom: \"conv1\" top: \"fc\" inner_product_param { num_output: 3 } }\n";
  caffetest::write_file(tmp.path("m.prototxt"), proto);
  const io::WeightsDict w = nn::caffe_weights(tmp.path("m.caffemodel"), tmp.path("m.prototxt"));
  const std::vector<float> conv = caffetest::ramp(18), fc = caffetest::ramp(24, 0.125f);
  const Tensor<float> cw = w.tensor<float>("conv1", "weights"), fw = w.tensor<float>("fc", "weights");
  REQUIRE(cw.shape() == Shape({3, 3, 1, 2}));
  REQUIRE(fw.shape() == Shape({8, 3}));
  for (int o = 0; o < 2; ++o)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) CHECK(cw[(y * 3 + x) * 2 + o] == conv[size_t((o * 3 + y) * 3 + x)]);
  for (int o = 0; o < 3; ++o)
    for (int c = 0; c < 2; ++c)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) CHECK(fw[((y * 2 + x) * 2 + c) * 3 + o] == fc[size_t(o * 8 + c * 4 + y * 2 + x)]);
  CHECK(w.tensor<float>("conv1", "biases")[1] == -1.5f);
  // The V1 form of the same model (legacy 4-d blobs) gives the same dict.
  caffetest::write_file(tmp.path("v1.caffemodel"), caffetest::small_model_v1());
  const io::WeightsDict w1 = nn::caffe_weights(tmp.path("v1.caffemodel"), tmp.path("m.prototxt"));
  for (const char* l : {"conv1", "fc"})
    for (const char* p : {"weights", "biases"}) {
      INFO(l << "/" << p);
      CHECK(w1.at(l, p).shape() == w.at(l, p).shape());
      CHECK(std::memcmp(w1.at(l, p).data(), w.at(l, p).data(), w.at(l, p).nbytes()) == 0);
    }
}

TEST_CASE("caffe_weights refuses a prototxt that does not fit the model, naming both", "[caffe]") {
  iotest::TempDir tmp;
  const std::string model = tmp.path("m.caffemodel");
  caffetest::write_file(model, caffetest::small_model());
  auto with = [&](const std::string& conv, const std::string& fc, const std::string& extra = "") {
    const std::string p = tmp.path("p.prototxt");
    caffetest::write_file(p, "input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                             "layer { name: " + conv + " bottom: \"data\" top: \"c\" }\n"
                             "layer { name: " + fc + " bottom: \"c\" top: \"f\" }\n" + extra);
    return p;
  };
  const std::string conv_ok = "\"conv1\" type: \"Convolution\" convolution_param { num_output: 2 kernel_size: 3 }";
  const std::string fc_ok = "\"fc\" type: \"InnerProduct\" inner_product_param { num_output: 3 }";
  CHECK_NOTHROW(nn::caffe_weights(model, with(conv_ok, fc_ok)));
  const std::string p = tmp.path("p.prototxt");
  SECTION("a shape") {
    CHECK_THROWS_WITH(nn::caffe_weights(model, with("\"conv1\" type: \"Convolution\" convolution_param { num_output: 3 kernel_size: 3 }", fc_ok)),
                      Catch::StartsWith(model + ": offset ") &&
                          Catch::Contains("layer 'conv1' blob 0 (weights) has shape (2, 1, 3, 3), but " + p + ":2 needs (3, 1, 3, 3)"));
  }
  SECTION("a layer the model lacks, and one the prototxt lacks") {
    const std::string renamed = with("\"conv9\" type: \"Convolution\" convolution_param { num_output: 2 kernel_size: 3 }", fc_ok);
    CHECK_THROWS_WITH(nn::caffe_weights(model, renamed),
                      Catch::Contains(model + ": layer 'conv1' (Convolution) has 2 blobs, but " + p + " has no"));
    nn::CaffeWeightsOptions o;
    o.ignore_unmatched = true;
    CHECK_THROWS_WITH(nn::caffe_weights(model, renamed, o),
                      Catch::Contains(model + ": has no blobs for layer 'conv9' (Convolution, " + p + ":2)"));
  }
  SECTION("a type") {
    CHECK_THROWS_WITH(nn::caffe_weights(model, with("\"conv1\" type: \"InnerProduct\" inner_product_param { num_output: 2 }", fc_ok)),
                      Catch::Contains("layer 'conv1' has type Convolution there, but InnerProduct in " + p + ":2"));
  }
  SECTION("a missing bias") {
    CHECK_THROWS_WITH(nn::caffe_weights(model, with(conv_ok, "\"fc\" type: \"InnerProduct\" inner_product_param { num_output: 3 bias_term: false }")),
                      Catch::Contains("layer 'fc' has 2 blobs, but " + p + ":3 gives it 1 (weights; bias_term is false)"));
  }
  SECTION("two layers of one name with blobs") {
    caffetest::write_file(model, caffetest::net({caffetest::layer("conv1", "Convolution", {caffetest::blob({1}, {1.0f})}),
                                                 caffetest::layer("conv1", "Convolution", {caffetest::blob({1}, {1.0f})})}));
    CHECK_THROWS_WITH(nn::caffe_weights(model, with(conv_ok, fc_ok)), Catch::Contains("a second layer named 'conv1' with blobs"));
  }
}

namespace {

// A residual model written by protobuf, built from its prototxt and loaded: its forward
// against PyTorch's on the same blobs; BatchNorm's buffers are Caffe's statistics divided by
// the scale factor.
void residual_matches_pytorch(int version) {
  CaffeRef ref(true);
  const std::string arch = caffetest::residual_arch(version);
  const std::string d = ref.write("res" + std::to_string(version), arch);
  const std::string model = d + "/net.caffemodel", prototxt = d + "/net.prototxt";
  CHECK(io::read_prototxt(prototxt).format == version);
  auto net = nn::caffe_network<float>(prototxt);
  CHECK_FALSE(net->is_chain());
  const nn::LoadReport r = nn::load_caffe(net->layers(), model, prototxt);
  INFO(r.str());
  CHECK(r.initial.empty());  // every parameter and buffer comes from the file (or the prototxt's coeff)
  std::vector<CaffeRef::LayerRow> layers;
  std::vector<CaffeRef::Blob> blobs;
  ref.read(model, layers, blobs);
  size_t bn = 0;
  for (const auto& l : layers) {
    if (l.type != "BatchNorm") continue;
    ++bn;
    INFO(l.name);
    std::vector<const CaffeRef::Blob*> b;
    for (const auto& x : blobs)
      if (x.layer == l.name) b.push_back(&x);
    REQUIRE(b.size() == 3);
    float factor;
    std::memcpy(&factor, b[2]->bytes.data(), 4);
    auto buffers = net->find(l.name).buffers();
    REQUIRE(buffers.size() == 2);
    for (size_t k = 0; k < 2; ++k) {
      const Tensor<float>& t = *buffers[k].tensor;
      CHECK(buffers[k].name == (k == 0 ? "mean" : "variance"));
      REQUIRE(size_t(t.bytes()) == b[k]->bytes.size());
      for (int64_t c = 0; c < t.size(); ++c) {
        float v;
        std::memcpy(&v, b[k]->bytes.data() + 4 * c, 4);
        CHECK(t[c] == Approx(double(v) / double(factor)).epsilon(1e-6));  // one float rounding
      }
    }
  }
  CHECK(bn == (version == 2 ? 5u : 0u));
  net->set_training(false);
  expect_forward_matches(ref, *net, model, arch, Shape{2, 3, 12, 12}, 20 + uint64_t(version));
}

}  // namespace

TEST_CASE("A residual V2 model (BatchNorm, Scale, branches, Eltwise, AVE pooling): PyTorch's probabilities", "[caffe][torch]") {
  residual_matches_pytorch(2);
}

TEST_CASE("A residual V1 model (ELTWISE with coeff, AVE pooling): PyTorch's probabilities", "[caffe][torch]") {
  residual_matches_pytorch(1);
}

TEST_CASE("caffe_weights of BatchNorm and Scale: statistics over the scale factor, 0 for a factor 0", "[caffe]") {
  iotest::TempDir tmp;
  using caffetest::blob;
  using caffetest::layer;
  const std::string proto =
      "input: \"data\" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n"
      "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"data\" top: \"data\" }\n"
      "layer { name: \"sc\" type: \"Scale\" bottom: \"data\" top: \"data\" scale_param { bias_term: true } }\n"
      "layer { name: \"bn0\" type: \"BatchNorm\" bottom: \"data\" top: \"data\" }\n"
      "layer { name: \"e\" type: \"Eltwise\" bottom: \"data\" bottom: \"data\" top: \"e\" eltwise_param { coeff: 3 coeff: 1 } }\n";
  caffetest::write_file(tmp.path("m.prototxt"), proto);
  caffetest::write_file(tmp.path("m.caffemodel"),
                        caffetest::net({layer("bn", "BatchNorm", {blob({2}, {1.0f, -2.0f}), blob({2}, {4.0f, 8.0f}), blob({1}, {4.0f})}),
                                        layer("sc", "Scale", {blob({2}, {0.5f, 2.0f}), blob({2}, {1.0f, -1.0f})}),
                                        layer("bn0", "BatchNorm", {blob({2}, {1.0f, 2.0f}), blob({2}, {3.0f, 4.0f}), blob({1}, {0.0f})})}));
  const io::WeightsDict w = nn::caffe_weights(tmp.path("m.caffemodel"), tmp.path("m.prototxt"));
  auto values = [&](const char* l, const char* p) {
    const Tensor<float> t = w.tensor<float>(l, p);
    return std::vector<float>(t.begin(), t.end());
  };
  CHECK(values("bn", "mean") == std::vector<float>{0.25f, -0.5f});
  CHECK(values("bn", "variance") == std::vector<float>{1.0f, 2.0f});
  CHECK(values("bn", "scale") == std::vector<float>{1.0f, 1.0f});  // Caffe's BatchNorm has no affine part
  CHECK(values("bn", "offset") == std::vector<float>{0.0f, 0.0f});
  CHECK(values("bn0", "mean") == std::vector<float>{0.0f, 0.0f});  // factor 0: Caffe's statistics are 0
  CHECK(values("bn0", "variance") == std::vector<float>{0.0f, 0.0f});
  CHECK(values("sc", "scale") == std::vector<float>{0.5f, 2.0f});
  CHECK(values("sc", "offset") == std::vector<float>{1.0f, -1.0f});
  CHECK(values("e_coeff0", "scale") == std::vector<float>{3.0f, 3.0f});
  CHECK_FALSE(w.find("e_coeff1"));  // coeff 1 needs no node
  // Loaded into the network built from the prototxt: y = 3 * x' + x' for x' the normalised,
  // scaled input (the same tensor read twice).
  auto net = nn::caffe_network<float>(tmp.path("m.prototxt"));
  const nn::LoadReport r = nn::load_caffe(net->layers(), tmp.path("m.caffemodel"), tmp.path("m.prototxt"));
  CHECK(r.initial.empty());
  Tensor<float> x(Shape{1, 2, 3, 3});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = 0.1f * float(i);
  const Tensor<float>& y = net->forward(x);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 9; ++i) {
      const double mean = c ? -0.5 : 0.25, var = c ? 2.0 : 1.0, s = c ? 2.0 : 0.5, b = c ? -1.0 : 1.0;
      const double a = ((x[c * 9 + i] - mean) / std::sqrt(var + 1e-5)) * s + b;
      const double z = a / std::sqrt(0.0 + 1e-5);  // bn0: statistics 0
      CHECK(y[c * 9 + i] == Approx(4.0 * z).epsilon(1e-5));
    }
}

TEST_CASE("A network from a residual prototxt fine-tunes: BatchNorm's statistics move, its affine part stays", "[caffe]") {
  iotest::TempDir tmp;
  caffetest::write_file(tmp.path("m.prototxt"),
                        "input: \"data\" input_shape { dim: 4 dim: 2 dim: 5 dim: 5 }\n"
                        "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 3 kernel_size: 3 bias_term: false } }\n"
                        "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"c\" top: \"c\" }\n"
                        "layer { name: \"sc\" type: \"Scale\" bottom: \"c\" top: \"c\" scale_param { bias_term: true } }\n"
                        "layer { name: \"fixed\" type: \"BatchNorm\" bottom: \"c\" top: \"c\" batch_norm_param { use_global_stats: true } }\n"
                        "layer { name: \"p\" type: \"Pooling\" bottom: \"c\" top: \"p\" pooling_param { pool: AVE global_pooling: true } }\n"
                        "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"p\" top: \"fc\" inner_product_param { num_output: 2 } }\n");
  auto net = nn::caffe_network<float>(tmp.path("m.prototxt"));
  net->initialize(3);
  net->unfreeze_all();  // what a fine-tuning stage from the bottom does
  net->set_training(true);
  Tensor<float> x(Shape{4, 2, 5, 5});
  test::fill_uniform(x, 5, -1.0, 1.0);
  const Tensor<float>& y = net->forward(x);
  Tensor<float> dy(y.shape());
  test::fill_uniform(dy, 6, -1.0, 1.0);
  net->backward(dy);
  const Tensor<float>& mean = *net->find("bn").buffers().at(0).tensor;
  CHECK(std::any_of(mean.begin(), mean.end(), [](float v) { return v != 0.0f; }));  // batch statistics moved it
  const Tensor<float>& fixed = *net->find("fixed").buffers().at(0).tensor;
  CHECK(std::all_of(fixed.begin(), fixed.end(), [](float v) { return v == 0.0f; }));  // use_global_stats: fixed
  for (auto* p : net->find("bn").params()) CHECK(p->lr_mult == 0.0f);  // unfrozen, but steps leave it at 1 / 0
  const Tensor<float>& g = net->find("sc").params().at(0)->grad;
  CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; }));  // the Scale learns
  const Tensor<float>& gc = net->find("c").params().at(0)->grad;
  CHECK(std::any_of(gc.begin(), gc.end(), [](float v) { return v != 0.0f; }));  // through BatchNorm to the conv
}
