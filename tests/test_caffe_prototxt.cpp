// [caffe] .prototxt: V1 and V2 syntax, the input forms, window forms and phase rules; the
// networks built from them; and an error naming the file and line for everything graft
// cannot build or read.
#include <catch2/catch.hpp>

#include "graft/cpu.hpp"
#include "graft/io/prototxt.hpp"
#include "graft/nn/caffe.hpp"

using namespace graft;
using io::CaffeNet;
using io::parse_prototxt;

namespace {

const char* kV1 = R"(name: "tiny"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 9
input_dim: 9
layers {
  bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 4 pad: 1 kernel_size: 3 }
}
layers { bottom: "conv1" top: "conv1" name: "relu1" type: RELU }
layers { bottom: "conv1" top: "pool1" name: "pool1" type: POOLING pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { bottom: "pool1" top: "fc6" name: "fc6" type: INNER_PRODUCT inner_product_param { num_output: 6 } }
layers { bottom: "fc6" top: "fc6" name: "relu6" type: RELU }
layers { bottom: "fc6" top: "fc6" name: "drop6" type: DROPOUT dropout_param { dropout_ratio: 0.25 } }
layers { bottom: "fc6" top: "fc8" name: "fc8" type: INNER_PRODUCT inner_product_param { num_output: 2 } }
layers { bottom: "fc8" top: "prob" name: "prob" type: SOFTMAX }
)";

const char* kV2 = R"(name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 1 dim: 3 dim: 9 dim: 9 } } }
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 4 pad: 1 kernel_size: 3 weight_filler { type: "xavier" } }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6" inner_product_param { num_output: 6 } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.25 } }
layer { name: "fc8" type: "InnerProduct" bottom: "fc6" top: "fc8" inner_product_param { num_output: 2 } }
layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }
)";

// A ResNet-50 deploy file's shape in small: conv1 without bias, BatchNorm and Scale in place,
// an AVE pool, a projection branch and a two-conv branch summed by an Eltwise, an identity
// block whose Eltwise has coefficients, global average pooling and the classifier.
const char* kResidual = R"(name: "tiny-resnet"
input: "data"
input_shape { dim: 1 dim: 3 dim: 12 dim: 12 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "bn_conv1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true } }
layer { name: "scale_conv1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "conv1_relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "res2a_branch1" type: "Convolution" bottom: "pool1" top: "res2a_branch1" convolution_param { num_output: 6 kernel_size: 1 bias_term: false } }
layer { name: "bn2a_branch1" type: "BatchNorm" bottom: "res2a_branch1" top: "res2a_branch1" batch_norm_param { eps: 0.001 moving_average_fraction: 0.9 } }
layer { name: "scale2a_branch1" type: "Scale" bottom: "res2a_branch1" top: "res2a_branch1" }
layer { name: "res2a_branch2a" type: "Convolution" bottom: "pool1" top: "res2a_branch2a" convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "res2a" type: "Eltwise" bottom: "res2a_branch1" bottom: "res2a_branch2a" top: "res2a" }
layer { name: "res2a_relu" type: "ReLU" bottom: "res2a" top: "res2a" }
layer { name: "res2b_branch2a" type: "Convolution" bottom: "res2a" top: "res2b_branch2a" convolution_param { num_output: 6 kernel_size: 1 } }
layer { name: "res2b" type: "Eltwise" bottom: "res2a" bottom: "res2b_branch2a" top: "res2b" eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
layer { name: "pool5" type: "Pooling" bottom: "res2b" top: "pool5" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc4" type: "InnerProduct" bottom: "pool5" top: "fc4" inner_product_param { num_output: 4 bias_term: false } }
layer { name: "prob" type: "Softmax" bottom: "fc4" top: "prob" }
)";

std::string layers_of(const CaffeNet& n) {
  std::string s;
  for (const auto& l : n.layers)
    s += l.name + ":" + l.type + ":" + l.bottoms.at(0) + ">" + l.top + ":" + std::to_string(l.num_output) + ":" +
         std::to_string(l.kernel_h) + "x" + std::to_string(l.kernel_w) + "/" + std::to_string(l.stride_h) + "x" +
         std::to_string(l.stride_w) + "+" + std::to_string(l.pad_h) + "x" + std::to_string(l.pad_w) +
         (l.ceil_mode ? "c" : "f") + (l.bias_term ? "b" : "") + std::to_string(l.dropout_ratio) + " ";
  return s;
}

std::string error_of(const std::string& text) {
  try {
    const CaffeNet n = parse_prototxt(text, "net.prototxt");
    nn::caffe_network<float>(n);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// "input: data" with 1x3x8x8 and then `layers`.
std::string v2_net(const std::string& layers) {
  return "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n" + layers;
}

}  // namespace

TEST_CASE("V1 and V2 prototxts of one net read the same", "[caffe]") {
  const CaffeNet a = parse_prototxt(kV1, "v1.prototxt"), b = parse_prototxt(kV2, "v2.prototxt");
  CHECK(a.format == 1);
  CHECK(b.format == 2);
  CHECK(a.name == "tiny");
  CHECK(a.input == "data");
  CHECK(b.input == "data");
  CHECK(a.input_shape == Shape({1, 3, 9, 9}));
  CHECK(b.input_shape == a.input_shape);
  CHECK(layers_of(a) == layers_of(b));
  REQUIRE(a.layers.size() == 8);
  CHECK(a.layers[0].line == 7);
  CHECK(b.layers[0].line == 3);
  CHECK(a.layers[1].top == "conv1");  // in place
  CHECK(a.layers[5].dropout_ratio == 0.25f);
  CHECK(a.where(a.layers[2]) == "v1.prototxt:13");
}

TEST_CASE("A network from a prototxt: Caffe's names, shapes rounded up by pooling, no final Softmax", "[caffe]") {
  auto net = nn::caffe_network<float>(parse_prototxt(kV1, "v1.prototxt"));
  const char* names[] = {"conv1", "relu1", "pool1", "fc6", "relu6", "drop6", "fc8"};
  const char* types[] = {"Conv2d", "ReLU", "MaxPool2d", "Linear", "ReLU", "Dropout", "Linear"};
  REQUIRE(net->size() == 7);
  for (size_t i = 0; i < 7; ++i) {
    CHECK(net->layer(i).name() == names[i]);
    CHECK(std::string(net->layer(i).type()) == types[i]);
  }
  CHECK(net->shape_after(0) == Shape({1, 4, 9, 9}));
  CHECK(net->shape_after(2) == Shape({1, 4, 5, 5}));  // ceil((9 - 2) / 2) + 1
  CHECK(net->output_shape() == Shape({1, 2}));
  CHECK(static_cast<Dropout<float>&>(net->find("drop6")).probability() == 0.25f);
  CHECK(static_cast<MaxPool2d<float>&>(net->find("pool1")).window().ceil_mode);
  // round_mode: FLOOR rounds down as other frameworks do.
  std::string floor = kV2;
  floor.replace(floor.find("pool: MAX"), 9, "pool: MAX round_mode: FLOOR");
  auto f = nn::caffe_network<float>(parse_prototxt(floor, "f.prototxt"));
  CHECK(f->shape_after(2) == Shape({1, 4, 4, 4}));
}

TEST_CASE("A residual prototxt is a graph: in-place layers are new nodes, branches read one blob", "[caffe]") {
  const CaffeNet n = parse_prototxt(kResidual, "res.prototxt");
  REQUIRE(n.layers.size() == 16);
  // Each layer's inputs: the layer that last wrote each bottom (-1: the input).
  std::string graph;
  for (const auto& l : n.layers) {
    graph += l.name + "<";
    for (size_t j = 0; j < l.inputs.size(); ++j)
      graph += (j ? "," : "") + (l.inputs[j] < 0 ? std::string("input") : n.layers[size_t(l.inputs[j])].name);
    graph += " ";
  }
  CHECK(graph ==
        "conv1<input bn_conv1<conv1 scale_conv1<bn_conv1 conv1_relu<scale_conv1 pool1<conv1_relu "
        "res2a_branch1<pool1 bn2a_branch1<res2a_branch1 scale2a_branch1<bn2a_branch1 res2a_branch2a<pool1 "
        "res2a<scale2a_branch1,res2a_branch2a res2a_relu<res2a res2b_branch2a<res2a_relu "
        "res2b<res2a_relu,res2b_branch2a pool5<res2b fc4<pool5 prob<fc4 ");
  const auto& bn = n.layers[1];
  CHECK(bn.in_place());
  CHECK(bn.use_global_stats_given);
  CHECK(bn.use_global_stats);
  CHECK(bn.eps == 1e-5);
  CHECK(n.layers[6].eps == 0.001);
  CHECK(n.layers[6].moving_average_fraction == 0.9);
  CHECK_FALSE(n.layers[6].use_global_stats_given);
  CHECK(n.layers[2].bias_term);
  CHECK_FALSE(n.layers[7].bias_term);  // Scale's bias_term defaults to false, as in Caffe
  CHECK(n.layers[4].average);
  CHECK(n.layers[12].coeffs == std::vector<double>{1.0, -0.5});
  CHECK(n.layers[9].coeffs.empty());
  CHECK_FALSE(n.layers[14].bias_term);

  const auto shapes = nn::caffe_shapes(n);
  CHECK(shapes[4].out == Shape({1, 4, 7, 7}));  // ceil((12 + 2 - 3) / 2) + 1
  CHECK(shapes[1].channels == 4);
  CHECK(shapes[9].ins == std::vector<Shape>{Shape{1, 6, 7, 7}, Shape{1, 6, 7, 7}});
  CHECK(shapes[13].out == Shape({1, 6, 1, 1}));
  CHECK(shapes[14].weights == Shape({4, 6}));
  CHECK(shapes[14].biases.rank() == 0);
}

TEST_CASE("A residual network from a prototxt: BatchNorm2d, Affine, Add, average pooling", "[caffe]") {
  auto net = nn::caffe_network<float>(parse_prototxt(kResidual, "res.prototxt"));
  // One node per layer but the Softmax, and an Affine for res2b's coeff -0.5.
  REQUIRE(net->size() == 16);
  CHECK(!net->is_chain());
  CHECK(std::string(net->find("bn_conv1").type()) == "BatchNorm2d");
  CHECK(std::string(net->find("scale_conv1").type()) == "Affine");
  CHECK(std::string(net->find("res2a").type()) == "Add");
  CHECK(std::string(net->find("pool1").type()) == "AvgPool2d");
  CHECK(std::string(net->find("pool5").type()) == "GlobalAvgPool2d");
  CHECK(static_cast<AvgPool2d<float>&>(net->find("pool1")).count_pad());
  CHECK(net->find("conv1").params().size() == 1);
  CHECK(net->find("fc4").params().size() == 1);
  CHECK(net->find("scale2a_branch1").params().size() == 1);  // no bias_term: a scale alone
  CHECK(net->find("scale_conv1").params().size() == 2);
  // BatchNorm's own affine part is fixed: Caffe's has none.
  for (auto* p : net->find("bn_conv1").params()) {
    CHECK_FALSE(p->trainable);
    CHECK(p->lr_mult == 0.0f);
  }
  CHECK(net->find("scale_conv1").learns());
  // The coefficient node, scaling res2b's second bottom.
  auto& coeff = net->find("res2b_coeff1");
  CHECK(std::string(coeff.type()) == "Affine");
  CHECK_FALSE(coeff.learns());
  CHECK(coeff.params().at(0)->value[3] == -0.5f);
  const int add = net->index_of("res2b");
  REQUIRE(net->inputs_of(size_t(add)).size() == 2);
  CHECK(net->inputs_of(size_t(add))[0] == net->index_of("res2a_relu"));
  CHECK(net->inputs_of(size_t(add))[1] == net->index_of("res2b_coeff1"));
  CHECK(net->inputs_of(size_t(net->index_of("res2a_branch2a")))[0] == net->index_of("pool1"));
  CHECK(net->output_shape() == Shape({1, 4}));
}

TEST_CASE("Input forms: input_dim, input_shape, an Input layer, list syntax", "[caffe]") {
  const std::string layer = "layer { name: \"c\" type: \"Convolution\" bottom: \"x\" top: \"c\" convolution_param { num_output: 2 kernel_size: 1 } }\n";
  for (const std::string& head : {std::string("input: \"x\" input_dim: 2 input_dim: 3 input_dim: 5 input_dim: 7\n"),
                                 std::string("input: \"x\"\ninput_shape { dim: 2 dim: 3 dim: 5 dim: 7 }\n"),
                                 std::string("input: \"x\"\ninput_shape { dim: [2, 3, 5, 7] }\n"),
                                 std::string("layer { name: \"in\" type: \"Input\" top: \"x\" input_param { shape: { dim: 2, dim: 3; dim: 5 dim: 7 } } }\n")}) {
    INFO(head);
    const CaffeNet n = parse_prototxt(head + layer, "in.prototxt");
    CHECK(n.input == "x");
    CHECK(n.input_shape == Shape({2, 3, 5, 7}));
    REQUIRE(n.layers.size() == 1);
  }
  // A (batch, features) input for a fully connected net.
  const CaffeNet fc = parse_prototxt(
      "input: \"x\" input_shape { dim: 4 dim: 10 }\nlayer { name: \"f\" type: \"InnerProduct\" bottom: \"x\" top: \"f\" inner_product_param { num_output: 3 } }",
      "fc.prototxt");
  auto net = nn::caffe_network<float>(fc);
  CHECK(net->output_shape() == Shape({1, 3}));
}

TEST_CASE("Window forms: kernel_h/w, pad_h/w, stride_h/w, repeated sizes, global pooling", "[caffe]") {
  const CaffeNet n = parse_prototxt(v2_net(R"(
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
        convolution_param { num_output: 2 kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0 stride_h: 1 stride_w: 2 bias_term: false } }
layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2" convolution_param { num_output: 2 kernel_size: [3, 1] pad: 1 pad: 0 stride: 2 dilation: 1 group: 1 } }
layer { name: "p" type: "Pooling" bottom: "c2" top: "p" pooling_param { pool: MAX global_pooling: true } }
)"), "w.prototxt");
  REQUIRE(n.layers.size() == 3);
  const auto& c1 = n.layers[0];
  CHECK((c1.kernel_h == 3 && c1.kernel_w == 1 && c1.pad_h == 1 && c1.pad_w == 0 && c1.stride_h == 1 && c1.stride_w == 2));
  CHECK_FALSE(c1.bias_term);
  const auto& c2 = n.layers[1];
  CHECK((c2.kernel_h == 3 && c2.kernel_w == 1 && c2.pad_h == 1 && c2.pad_w == 0 && c2.stride_h == 2 && c2.stride_w == 2));
  const auto shapes = nn::caffe_shapes(n);
  CHECK(shapes[0].out == Shape({1, 2, 8, 4}));
  CHECK(shapes[0].weights == Shape({2, 3, 3, 1}));
  CHECK(shapes[0].biases.rank() == 0);
  CHECK(shapes[1].out == Shape({1, 2, 4, 2}));
  CHECK(shapes[2].window.kh == 4);
  CHECK(shapes[2].out == Shape({1, 2, 1, 1}));
  auto net = nn::caffe_network<float>(n);
  CHECK(net->find("c1").params().size() == 1);
  CHECK(net->output_shape() == Shape({1, 2, 1, 1}));
}

TEST_CASE("Layers are chosen for the TEST phase, as Caffe runs a deploy net", "[caffe]") {
  const CaffeNet n = parse_prototxt(v2_net(R"(
layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "t" type: "Dropout" bottom: "c" top: "c" include { phase: TRAIN } }
layer { name: "x" type: "Dropout" bottom: "c" top: "c" exclude { phase: TEST } }
layer { name: "s" type: "Dropout" bottom: "c" top: "c" include { stage: "deploy" } }
layer { name: "l" type: "Dropout" bottom: "c" top: "c" include { min_level: 1 } }
layer { name: "k" type: "ReLU" bottom: "c" top: "c" include { phase: TEST } include { phase: TRAIN } }
layer { name: "a" type: "Accuracy" bottom: "c" top: "a" include { phase: TRAIN } }
layer { name: "e" type: "ReLU" bottom: "c" top: "c" exclude { phase: TRAIN } }
)"), "phase.prototxt");
  REQUIRE(n.layers.size() == 3);
  CHECK(n.layers[0].name == "c");
  CHECK(n.layers[1].name == "k");
  CHECK(n.layers[2].name == "e");
}

TEST_CASE("Text format: comments, separators, quotes and escapes, <> messages", "[caffe]") {
  const CaffeNet n = parse_prototxt(
      "# a comment\nname: 'it''s' \"\\x41\\102\\n\"  # two literals joined\n"
      "input: \"data\"; input_shape < dim: 0x1, dim: 3 dim: 4 dim: 4 >\n"
      "layer: { name: \"c\\\"1\" type: \"Convolution\" bottom: \"data\" top: \"c\"\n"
      "  convolution_param < num_output: 02 kernel_size: 1 >, }\n"
      "layer { name: \"d\", type: \"Dropout\"; bottom: \"c\" top: \"c\" dropout_param { dropout_ratio: 5e-1f } }\n",
      "text.prototxt");
  CHECK(n.name == "itsAB\n");
  CHECK(n.input_shape == Shape({1, 3, 4, 4}));
  REQUIRE(n.layers.size() == 2);
  CHECK(n.layers[0].name == "c\"1");
  CHECK(n.layers[0].num_output == 2);  // octal 02
  CHECK(n.layers[1].dropout_ratio == 0.5f);
}

TEST_CASE("Every prototxt graft cannot build or read is an error naming the file and the line", "[caffe]") {
  const std::string conv = "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\" convolution_param { num_output: 2 kernel_size: 3 } }\n";
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {v2_net("layers { name: \"norm1\" type: LRN bottom: \"data\" top: \"norm1\" }\n"),
       "net.prototxt:3: layer 'norm1' has type 'LRN', which graft cannot build"},
      {v2_net(conv + "layer { name: \"cat\" type: \"Concat\" bottom: \"conv1\" bottom: \"data\" top: \"cat\" }\n"),
       "net.prototxt:4: layer 'cat' has type 'Concat', which graft cannot build"},
      {"layer { name: \"mnist\" type: \"Data\" top: \"data\" top: \"label\" }\n",
       "net.prototxt:1: layer 'mnist' has type 'Data', which graft cannot build (it builds Convolution, Pooling, "
       "InnerProduct, ReLU, Dropout, BatchNorm, Scale, Eltwise and Softmax); a data layer belongs to a training net"},
      {v2_net("layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\"\n pooling_param { pool: STOCHASTIC kernel_size: 2 } }\n"),
       "net.prototxt:4: Pooling 'p' has pool: STOCHASTIC; graft builds MAX and AVE"},
      {v2_net(conv + "layer { name: \"e\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"conv1\" top: \"e\"\n eltwise_param { operation: PROD } }\n"),
       "net.prototxt:5: Eltwise 'e' has operation PROD; graft builds only SUM (with coefficients)"},
      {v2_net(conv + "layer { name: \"e\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"conv1\" top: \"e\" eltwise_param { operation: MAX } }\n"),
       "net.prototxt:4: Eltwise 'e' has operation MAX; graft builds only SUM"},
      {v2_net(conv + "layer { name: \"e\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"conv1\" top: \"e\" eltwise_param { coeff: 1 } }\n"),
       "net.prototxt:4: Eltwise 'e' has 1 coeff values for 2 bottoms"},
      {v2_net(conv + "layer { name: \"e\" type: \"Eltwise\" bottom: \"conv1\" top: \"e\" }\n"),
       "net.prototxt:4: layer 'e' (Eltwise) has 1 bottoms and 1 tops; graft builds an Eltwise with two or more bottoms"},
      {v2_net(conv + "layer { name: \"e\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"data\" top: \"e\" }\n"),
       "net.prototxt:4: layer 'e' (Eltwise): bottom 'data' has shape (1, 3, 8, 8), but bottom 'conv1' has (1, 2, 6, 6)"},
      {v2_net(conv + "layer { name: \"r\" type: \"ReLU\" bottom: \"conv2\" top: \"conv2\" }\n"),
       "net.prototxt:4: layer 'r' reads blob 'conv2', which neither the input nor a layer before it writes (blobs so far: 'conv1', 'data')"},
      {v2_net(conv + "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"conv1\" }\n"),
       "net.prototxt:4: layer 'r' writes blob 'conv1', which layer 'conv1' wrote (line 3); Caffe rewrites a blob only in place"},
      {v2_net(conv + "layer { name: \"s\" type: \"Scale\" bottom: \"conv1\" bottom: \"conv1\" top: \"s\" }\n"),
       "a Scale whose factors come from a second bottom is not supported"},
      {v2_net(conv + "layer { name: \"s\" type: \"Scale\" bottom: \"conv1\" top: \"conv1\" scale_param { axis: 2 } }\n"),
       "net.prototxt:4: Scale 's': only axis 1 (a factor per channel) is supported"},
      {v2_net(conv + "layer { name: \"b\" type: \"BatchNorm\" bottom: \"conv1\" top: \"conv1\" batch_norm_param { eps: 0 } }\n"),
       "net.prototxt:4: BatchNorm 'b': eps 0 is outside (0, 1)"},
      {v2_net(conv + "layer { name: \"r\" type: \"ReLU\" bottom: \"conv1\" top: \"r\" }\n"
                     "layer { name: \"prob\" type: \"Softmax\" bottom: \"conv1\" top: \"prob\" }\n"),
       "net.prototxt:5: the Softmax 'prob' reads 'conv1', not the output of the layer before it ('r')"},
      {"input: \"data\" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n"
       "layers { name: \"bn\" type: BATCHNORM bottom: \"data\" top: \"data\" }\n",
       "net.prototxt:2: unknown V1 layer type BATCHNORM"},
      {v2_net("layer { name: \"g\" type: \"Convolution\" bottom: \"data\" top: \"g\" convolution_param { num_output: 2 kernel_size: 3 group: 2 } }\n"),
       "net.prototxt:3: Convolution 'g' is grouped"},
      {v2_net("layer { name: \"g\" type: \"Convolution\" bottom: \"data\" top: \"g\" convolution_param { num_output: 2 kernel_size: 3 dilation: 2 } }\n"),
       "Convolution 'g' is dilated"},
      {v2_net(conv + "layer { name: \"r\" type: \"ReLU\" bottom: \"conv1\" top: \"conv1\" relu_param { negative_slope: 0.1 } }\n"),
       "net.prototxt:4: ReLU 'r' is leaky (negative_slope 0.1)"},
      {v2_net("layer { name: \"f\" type: \"InnerProduct\" bottom: \"data\" top: \"f\" inner_product_param { num_output: 2 transpose: true } }\n"),
       "InnerProduct 'f': transpose is not supported"},
      {v2_net(conv + "layer { name: \"c2\" type: \"Convolution\" bottom: \"data\" top: \"c2\" convolution_param { num_output: 2 kernel_size: 3 } }\n"),
       "net.prototxt:3: the output of layer 'conv1' (blob 'conv1') is read by no later layer; graft builds nets with one output, the last layer 'c2'"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 3 } }\n"),
       "layer 'c' (Convolution) has 2 bottoms and 1 tops"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"data\" convolution_param { num_output: 2 kernel_size: 3 } }\n"),
       "layer 'c' (Convolution) writes its input blob 'data' in place; graft does that only for ReLU, Dropout, BatchNorm and Scale"},
      {v2_net(conv + "layer { name: \"prob\" type: \"Softmax\" bottom: \"conv1\" top: \"prob\" }\n"
                     "layer { name: \"r\" type: \"ReLU\" bottom: \"prob\" top: \"prob\" }\n"),
       "net.prototxt:5: layer 'r' follows the Softmax 'prob' (line 4)"},
      {conv, "net.prototxt:1: layer 'conv1' comes before any input"},
      {"name: \"x\"\n", "net.prototxt:1: no input"},
      {"input: \"data\" input_dim: 1 input_dim: 3 input_dim: 8\n" + conv, "'input_dim' is given 3 times"},
      {"input: \"data\"\n" + conv, "net.prototxt:1: input 'data' has no shape"},
      {"input_dim: 1\n" + conv, "'input_dim' without 'input:'"},
      {"input: \"data\" input_shape { dim: 1 dim: 3 dim: 8 }\n" + conv, "the input has 3 dimensions"},
      {"input: \"data\" input_shape { dim: 1 dim: 0 dim: 8 dim: 8 }\n" + conv, "'dim' = 0 is outside [1, 2147483647]"},
      {"input: \"data\" input: \"label\"\n", "a second input"},
      {"input: \"data\" input_shape { dim: 2147483647 dim: 2147483647 dim: 2147483647 dim: 2 }\n" + conv,
       "net.prototxt:1: the input's shape is too large"},
      {"input: \"data\" input_shape { dim: 1 dim: 3 dim: 100000 dim: 100000 }\n" + conv,
       "net.prototxt:1: the input (1, 3, 100000, 100000) would take more than 17179869184 bytes"},
      {v2_net(conv + conv), "net.prototxt:4: a second layer named 'conv1' (the first is on line 3)"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\"\nconvolution_param { num_output: 2\nnum_output: 3 kernel_size: 3 } }\n"),
       "net.prototxt:5: 'num_output' is given twice (also on line 4)"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { kernel_size: 3 } }\n"),
       "Convolution 'c' has no convolution_param { num_output }"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 } }\n"),
       "Convolution 'c' has no kernel_size"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3 } }\n"),
       "gives both 'kernel_size' and 'kernel_h/_w'"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_h: 3 } }\n"),
       "needs both 'kernel_h' and 'kernel_w'"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 3 kernel_size: 3 kernel_size: 3 } }\n"),
       "gives 'kernel_size' 3 times; graft convolves and pools in 2-d"},
      {v2_net("layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" pooling_param { kernel_size: 2 pad: 2 } }\n"),
       "Pooling 'p': padding 2x2 must be below the kernel 2x2"},
      {v2_net("layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" pooling_param { global_pooling: true kernel_size: 2 } }\n"),
       "Pooling 'p' has global_pooling and a kernel size"},
      {v2_net(conv + "layer { name: \"d\" type: \"Dropout\" bottom: \"conv1\" top: \"conv1\" dropout_param { dropout_ratio: 1.0 } }\n"),
       "Dropout 'd': dropout_ratio 1.0 is outside [0, 1)"},
      {"input: \"data\" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\nlayers { name: \"a\" }\nlayer { name: \"b\" }\n",
       "net.prototxt:2: the file mixes V1 'layers' (line 2) and V2 'layer' (line 3) blocks"},
      {v2_net("layer {\n  name: \"c\"\n"), "net.prototxt:5:1: expected '}' to close the message opened on line 3, got the end of the file"},
      {v2_net("layer { name \"c\" }"), "net.prototxt:3:14: expected ':' or '{' after the field name 'name', got the string 'c'"},
      {v2_net("layer { name: \"c }\n"), "net.prototxt:3:15: string not closed before the end of the line"},
      {v2_net("layer { name: \"c\\q\" }\n"), "unknown escape \\q in a string"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 3x kernel_size: 3 } }\n"),
       "'num_output' must be an integer, got '3x'"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: \"3\" kernel_size: 3 } }\n"),
       "'num_output' must be an integer, got '3'"},
      {v2_net("layer { name: conv1 }\n"), "net.prototxt:3: name must be a quoted string, got 'conv1'"},
      {v2_net("layer { type: \"ReLU\" }\n"), "net.prototxt:3: a layer without a name"},
      {v2_net("layer { name: \"r\" }\n"), "net.prototxt:3: layer 'r' has no type"},
      {v2_net("layers { name: \"r\" type: FOO }\n"), "net.prototxt:3: unknown V1 layer type FOO"},
      {v2_net("layer { name: \"in\" type: \"Input\" top: \"x\" input_param { shape { dim: 1 dim: 2 } } }\n"),
       "Input layer 'in' after the input 'data' (line 1)"},
      {v2_net("layer { name: \"c\" \x01 }\n"), "net.prototxt:3:19: unexpected character '\\x01'"},
      {std::string(200, '{'), "net.prototxt:1:1: expected a field name, got '{'"},
      {[] {
         std::string deep;
         for (int i = 0; i < 100; ++i) deep += "a { ";
         return deep;
       }(),
       "net.prototxt:1:259: messages nest more than 64 deep (ReadLimits::max_nesting)"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 9 } }\n"),
       "net.prototxt:3: layer 'c' (Convolution): input 8x8 (padding 0x0) is smaller than the 9x9 window"},
      {v2_net("layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2147483647 kernel_size: 3 } }\n"),
       "net.prototxt:3: layer 'c' (Convolution): weights (2147483647, 3, 3, 3) would take more than"},
      {v2_net("layer { name: \"f\" type: \"InnerProduct\" bottom: \"data\" top: \"f\" inner_product_param { num_output: 2147483647 } }\n"),
       "net.prototxt:3: layer 'f' (InnerProduct): weights (2147483647, 192) would take more than"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const std::string e = error_of(c.text);
    INFO("error: " << e);
    CHECK(e.rfind("net.prototxt:", 0) == 0);
    CHECK(e.find(c.expect) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
}

TEST_CASE("A prototxt file: read from disk, too large, missing", "[caffe]") {
  io::ReadLimits small;
  small.max_text_bytes = 64;
  CHECK_THROWS_WITH(parse_prototxt(kV1, "big.prototxt", small),
                    Catch::StartsWith("big.prototxt: ") && Catch::Contains("more than the limit of 64"));
  CHECK_THROWS_WITH(io::read_prototxt("/nonexistent/x.prototxt"), Catch::StartsWith("/nonexistent/x.prototxt: cannot open"));
}

TEST_CASE("VGG-Face's V1 deploy prototxt: VGG16's shapes and names, fc6 on pool5's 512x7x7", "[caffe]") {
  // Written as the authors' VGG_FACE_deploy.prototxt is: V1 syntax, input_dim lines,
  // in-place ReLU and Dropout, a final Softmax.
  std::string p = "name: \"VGG_FACE_16_layers\"\ninput: \"data\"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n";
  std::string blob = "data";
  auto layer = [&](const std::string& name, const std::string& type, const std::string& top, const std::string& param) {
    p += "layers {\n  bottom: \"" + blob + "\"\n  top: \"" + top + "\"\n  name: \"" + name + "\"\n  type: " + type + "\n" + param + "}\n";
    blob = top;
  };
  const int blocks[5][2] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  std::vector<std::string> with_params;
  for (int b = 1; b <= 5; ++b) {
    for (int i = 1; i <= blocks[b - 1][1]; ++i) {
      const std::string n = std::to_string(b) + "_" + std::to_string(i);
      layer("conv" + n, "CONVOLUTION", "conv" + n,
            "  convolution_param {\n    num_output: " + std::to_string(blocks[b - 1][0]) + "\n    pad: 1\n    kernel_size: 3\n  }\n");
      layer("relu" + n, "RELU", "conv" + n, "");
      with_params.push_back("conv" + n);
    }
    layer("pool" + std::to_string(b), "POOLING", "pool" + std::to_string(b),
          "  pooling_param {\n    pool: MAX\n    kernel_size: 2\n    stride: 2\n  }\n");
  }
  for (int f = 6; f <= 7; ++f) {
    const std::string n = "fc" + std::to_string(f);
    layer(n, "INNER_PRODUCT", n, "  inner_product_param {\n    num_output: 4096\n  }\n");
    layer("relu" + std::to_string(f), "RELU", n, "");
    layer("drop" + std::to_string(f), "DROPOUT", n, "  dropout_param {\n    dropout_ratio: 0.5\n  }\n");
    with_params.push_back(n);
  }
  layer("fc8", "INNER_PRODUCT", "fc8", "  inner_product_param {\n    num_output: 2622\n  }\n");
  with_params.push_back("fc8");
  layer("prob", "SOFTMAX", "prob", "");

  const CaffeNet net = parse_prototxt(p, "VGG_FACE_deploy.prototxt");
  CHECK(net.format == 1);
  CHECK(net.layers.size() == 13 * 2 + 5 + 2 * 3 + 1 + 1);  // conv+relu, pools, fc+relu+drop, fc8, prob
  const auto shapes = nn::caffe_shapes(net);
  std::vector<std::string> names;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const auto& l = net.layers[i];
    if (l.has_params()) names.push_back(l.name);
    if (l.name == "pool5") CHECK(shapes[i].out == Shape({1, 512, 7, 7}));
    if (l.name == "conv3_1") CHECK(shapes[i].weights == Shape({256, 128, 3, 3}));
    if (l.name == "fc6") {
      CHECK(shapes[i].weights == Shape({4096, 25088}));
      CHECK((shapes[i].c == 512 && shapes[i].h == 7 && shapes[i].w == 7));
    }
    if (l.name == "fc7") CHECK((shapes[i].c == 4096 && shapes[i].h == 1 && shapes[i].w == 1));
  }
  CHECK(names == with_params);
  CHECK(shapes.back().out == Shape({1, 2622}));
}
