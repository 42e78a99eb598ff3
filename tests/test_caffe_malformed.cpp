// [caffe] Hostile and broken .caffemodel files: each gives one graft::Error naming the file, the
// offset and what is wrong; none crashes or allocates what the file merely claims (the
// process runs under a 3 GiB address-space limit, so a huge allocation would fail as
// std::bad_alloc, which the test reports). Residual nets that do not fit (an Eltwise graft
// does not build, a BatchNorm blob of the wrong length, a bottom nothing wrote): one error
// naming the file, the layer and the shapes, and nothing half-loaded.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>

#include "graft/cpu.hpp"
#include "graft/io/caffemodel.hpp"
#include "graft/nn/caffe.hpp"
#include "support/caffe_files.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;
using caffetest::Pb;

namespace {
void limit_memory() {
  struct rlimit r;
  r.rlim_cur = r.rlim_max = rlim_t(3) << 30;
  REQUIRE(setrlimit(RLIMIT_AS, &r) == 0);
}

// "" when the bytes read as a model, else the graft::Error message; any other exception
// fails the test.
std::string try_read(const std::string& bytes, const std::string& name, const ReadLimits& limits = {}) {
  MemorySource src(bytes.data(), bytes.size(), name);
  try {
    read_caffemodel(src, limits);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}
}  // namespace

TEST_CASE("Each malformed caffemodel gives a clear error naming the file", "[caffe]") {
  limit_memory();
  const auto corpus = caffetest::malformed_models();
  REQUIRE(corpus.size() >= 30);
  for (const auto& bad : corpus) {
    INFO(bad.name);
    const std::string e = try_read(bad.bytes, bad.name);
    INFO("error: " << e);
    CHECK(e.rfind(bad.name + ": ", 0) == 0);
    CHECK(e.find(bad.expect) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
}

TEST_CASE("Valid small models read back exactly, V1 and V2, packed or not", "[caffe]") {
  const CaffeModel m = [] {
    const std::string b = caffetest::small_model();
    MemorySource src(b.data(), b.size(), "small.caffemodel");
    return read_caffemodel(src);
  }();
  REQUIRE(m.layers.size() == 3);
  CHECK(m.format == 2);
  CHECK(m.name == "net");
  CHECK(m.layers[0].blobs[0].shape == Shape({2, 1, 3, 3}));
  CHECK(m.layers[0].blobs[1].data.value(1) == -1.5);
  CHECK(m.layers[2].blobs[0].data.value(23) == double(caffetest::ramp(24, 0.125f)[23]));
  CHECK(m.find("fc") == &m.layers[2]);
  CHECK(m.find("nope") == nullptr);

  const std::string v1b = caffetest::small_model_v1();
  MemorySource v1src(v1b.data(), v1b.size(), "v1.caffemodel");
  const CaffeModel v1 = read_caffemodel(v1src);
  CHECK(v1.format == 1);
  REQUIRE(v1.layers.size() == 3);
  CHECK(v1.layers[0].type == "Convolution");
  CHECK(v1.layers[1].type == "ReLU");
  CHECK(v1.layers[2].type == "InnerProduct");
  CHECK(v1.layers[2].blobs[0].shape == Shape({1, 1, 3, 8}));
  CHECK(v1.layers[2].blobs[0].legacy);
  for (size_t l = 0; l < 3; ++l)
    for (size_t b = 0; b < m.layers[l].blobs.size(); ++b)
      CHECK(std::memcmp(v1.layers[l].blobs[b].data.data(), m.layers[l].blobs[b].data.data(), m.layers[l].blobs[b].data.nbytes()) == 0);

  // Unpacked values, repeated packed runs, double_data, a scalar blob, unknown fields of
  // every wire type, diff and an unknown V1 type: all read as protobuf says.
  Pb blob;
  blob.raw(Pb().msg(7, Pb().u(1, 2).varints(1, {3})).s)  // dims split over two fields: (2, 3)
      .f32(5, 1.0f).floats(5, {2.0f, 3.0f}).f32(5, 4.0f).floats(5, {5.0f, 6.0f})
      .floats(6, {9.0f}).u(99, 5).f64(98, 1.0).bytes(97, "skip me").raw(Pb().tag(96, 5).s + "abcd");
  const std::string odd = caffetest::net({caffetest::layer("a", "Convolution", {blob}),
                                          caffetest::layer("d", "Scale", {Pb().doubles(8, {0.25, 0.5}).msg(7, Pb().varints(1, {2})), Pb().i(4, 2)}),
                                          caffetest::layer("s", "Scale", {Pb().floats(5, {7.0f})})}) +
                          Pb().u(5, 1).bytes(3, "data").s;  // NetParameter's force_backward and input
  MemorySource osrc(odd.data(), odd.size(), "odd.caffemodel");
  const CaffeModel o = read_caffemodel(osrc);
  REQUIRE(o.layers.size() == 3);
  CHECK(o.layers[0].blobs[0].shape == Shape({2, 3}));
  for (int k = 0; k < 6; ++k) CHECK(o.layers[0].blobs[0].data.value(k) == double(k + 1));
  CHECK(o.layers[1].blobs[0].data.dtype() == DType::f8);
  CHECK(o.layers[1].blobs[0].data.value(1) == 0.5);
  CHECK(o.layers[1].blobs[1].shape == Shape({0, 0, 0, 2}));  // Caffe's legacy dims: unset ones are 0 ...
  CHECK(o.layers[2].blobs[0].shape == Shape{});             // ... and a blob without dims is a scalar
  // A name whose bytes start like protobuf text ("\nZVGG_FACE: ...") is still a valid model.
  const std::string texty = caffetest::net({caffetest::layer("a", "ReLU")}, false, "VGG_FACE: " + std::string(80, 'x'));
  MemorySource tsrc(texty.data(), texty.size(), "texty.caffemodel");
  CHECK(read_caffemodel(tsrc).name.size() == 90);
  const std::string v1_unknown = caffetest::net({caffetest::layer_v1("x", 77)}, true);
  MemorySource usrc(v1_unknown.data(), v1_unknown.size(), "u.caffemodel");
  CHECK(read_caffemodel(usrc).layers[0].type == "V1 type 77");
}

TEST_CASE("Every truncation of a valid model is an error, or the model's first layers", "[caffe]") {
  limit_memory();
  // Protobuf has no end marker: a cut between two top-level fields is a valid, shorter net.
  // Any other cut must be an error naming the file.
  using caffetest::blob;
  using caffetest::blob_v1;
  using caffetest::ramp;
  for (const bool v1 : {false, true}) {
    const std::vector<Pb> layers =
        v1 ? std::vector<Pb>{caffetest::layer_v1("conv1", 4, {blob_v1(2, 1, 3, 3, ramp(18)), blob_v1(1, 1, 1, 2, ramp(2))}),
                             caffetest::layer_v1("relu1", 18), caffetest::layer_v1("fc", 14, {blob_v1(1, 1, 3, 8, ramp(24))})}
           : std::vector<Pb>{caffetest::layer("conv1", "Convolution", {blob({2, 1, 3, 3}, ramp(18)), blob({2}, ramp(2))}),
                             caffetest::layer("relu1", "ReLU"), caffetest::layer("fc", "InnerProduct", {blob({3, 8}, ramp(24))})};
    std::string good = Pb().bytes(1, "net").s;
    std::vector<size_t> ends;  // where each layer's field ends
    for (const Pb& l : layers) {
      good += Pb().msg(v1 ? 2 : 100, l).s;
      ends.push_back(good.size());
    }
    for (size_t n = 0; n <= good.size(); ++n) {
      const std::string cut = good.substr(0, n);
      MemorySource src(cut.data(), cut.size(), "cut.caffemodel");
      const auto at = std::find(ends.begin(), ends.end(), n);
      INFO("v1 " << v1 << ", cut at " << n << " of " << good.size());
      if (at != ends.end()) {
        CHECK(read_caffemodel(src).layers.size() == size_t(at - ends.begin()) + 1);
      } else {
        const std::string e = try_read(cut, "cut.caffemodel");
        INFO(e);
        CHECK(e.rfind("cut.caffemodel: ", 0) == 0);
      }
    }
  }
}

TEST_CASE("Corrupting any byte of a valid model gives a model or an error, never a crash", "[caffe]") {
  limit_memory();
  const std::string good = caffetest::small_model();
  size_t errors = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (unsigned char x : {0x00, 0x80, 0xff, 0x07, 0x3a}) {
      std::string bad = good;
      bad[i] = static_cast<char>(x);
      const std::string e = try_read(bad, "flip.caffemodel");
      if (!e.empty()) {
        ++errors;
        INFO("byte " << i << " = " << int(x) << ": " << e);
        CHECK(e.rfind("flip.caffemodel: ", 0) == 0);
      }
    }
  CHECK(errors > good.size());  // most corruptions are caught
}

TEST_CASE("ReadLimits bound layers, blobs, names, bytes and nesting", "[caffe]") {
  limit_memory();
  auto expect = [](const std::string& bytes, const ReadLimits& l, const std::string& fragment) {
    const std::string e = try_read(bytes, "lim.caffemodel", l);
    INFO(e);
    CHECK(e.rfind("lim.caffemodel: offset ", 0) == 0);
    CHECK(e.find(fragment) != std::string::npos);
  };
  ReadLimits l;
  l.max_layers = 2;
  expect(caffetest::small_model(), l, "more than 2 layers (ReadLimits::max_layers)");
  l = ReadLimits();
  l.max_blobs = 1;
  expect(caffetest::small_model(), l, "layer 0 'conv1' has more than 1 blobs (ReadLimits::max_blobs)");
  l = ReadLimits();
  l.max_name_bytes = 3;
  expect(caffetest::small_model(), l, "layer 0 name is 5 bytes long, more than the limit of 3");
  l = ReadLimits();
  l.max_array_bytes = 64;
  expect(caffetest::small_model(), l, "layer 0 'conv1' blob 0 data: more than 64 bytes (ReadLimits::max_array_bytes)");
  l = ReadLimits();
  l.max_total_bytes = 100;
  expect(caffetest::small_model(), l, "blobs total more than 100 bytes (ReadLimits::max_total_bytes)");
  l = ReadLimits();
  l.max_nesting = 2;
  expect(caffetest::small_model(), l, "layer 0 'conv1' blob 0 shape is nested more than 2 messages deep");
  // The default limit on layers, reached with three bytes a layer.
  std::string many;
  for (uint64_t i = 0; i <= ReadLimits().max_layers; ++i) many += Pb().msg(100, Pb()).s;
  const std::string e = try_read(many, "many.caffemodel");
  CHECK(e.find("more than 65536 layers") != std::string::npos);
}

TEST_CASE("A large declared blob costs no memory before its bytes are there", "[caffe]") {
  limit_memory();
  // 4 GiB of floats declared, 8 bytes present.
  const Pb blob = Pb().tag(5, 2).varint(uint64_t(4) << 30).raw("12345678");
  const std::string e = try_read(Pb().msg(100, Pb().msg(7, blob)).s, "big.caffemodel");
  CHECK(e.rfind("big.caffemodel: offset 5: ", 0) == 0);
  CHECK(e.find("field 5 claims 4294967296 bytes, but only 8 are left in its message") != std::string::npos);
}

TEST_CASE("Residual nets that do not fit: one error naming the file, the layer and the shapes; nothing half-loaded", "[caffe]") {
  iotest::TempDir tmp;
  using caffetest::blob;
  using caffetest::layer;
  const std::string head = "input: \"data\" input_shape { dim: 1 dim: 1 dim: 5 dim: 5 }\n"
                           "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\" convolution_param { num_output: 2 kernel_size: 3 bias_term: false } }\n"
                           "layer { name: \"bn1\" type: \"BatchNorm\" bottom: \"conv1\" top: \"conv1\" }\n"
                           "layer { name: \"branch\" type: \"Convolution\" bottom: \"conv1\" top: \"branch\" convolution_param { num_output: 2 kernel_size: 1 } }\n";
  const std::string sum = "layer { name: \"res\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"branch\" top: \"res\" }\n";
  const std::string proto = tmp.path("res.prototxt"), model = tmp.path("res.caffemodel");
  caffetest::write_file(proto, head + sum);
  auto good_bn = [] { return layer("bn1", "BatchNorm", {blob({2}, {0.5f, -0.5f}), blob({2}, {2.0f, 3.0f}), blob({1}, {1.0f})}); };
  const auto conv1 = layer("conv1", "Convolution", {blob({2, 1, 3, 3}, caffetest::ramp(18))});
  const auto branch = layer("branch", "Convolution", {blob({2, 2, 1, 1}, caffetest::ramp(4)), blob({2}, {1.0f, 2.0f})});
  caffetest::write_file(model, caffetest::net({conv1, good_bn(), branch}));
  auto net = nn::caffe_network<float>(proto);
  CHECK(nn::load_caffe(net->layers(), model, proto).initial.empty());

  // Everything the network holds, to see that a failed load leaves it as it was.
  auto state = [&] {
    std::vector<float> v;
    for (auto* l : net->layers()) {
      for (auto* p : l->params()) v.insert(v.end(), p->value.begin(), p->value.end());
      for (auto& b : l->buffers()) v.insert(v.end(), b.tensor->begin(), b.tensor->end());
    }
    return v;
  };
  net->initialize(7);
  const std::vector<float> before = state();

  SECTION("a BatchNorm blob of the wrong length") {
    caffetest::write_file(model, caffetest::net({conv1, layer("bn1", "BatchNorm", {blob({2}, {0.5f, -0.5f}), blob({3}, caffetest::ramp(3)), blob({1}, {1.0f})}), branch}));
    CHECK_THROWS_WITH(nn::load_caffe(net->layers(), model, proto),
                      Catch::StartsWith(model + ": offset ") &&
                          Catch::Contains("layer 'bn1' blob 1 (variance) has shape (3,), but " + proto + ":3 needs (2,) (channels,)"));
    CHECK(state() == before);
  }
  SECTION("a BatchNorm without its scale factor") {
    caffetest::write_file(model, caffetest::net({conv1, layer("bn1", "BatchNorm", {blob({2}, {0.5f, -0.5f}), blob({2}, {1.0f, 1.0f})}), branch}));
    CHECK_THROWS_WITH(nn::load_caffe(net->layers(), model, proto),
                      Catch::Contains(model + ": layer 'bn1' has 2 blobs, but " + proto + ":3 gives it 3 (mean, variance, scale factor)"));
    CHECK(state() == before);
  }
  SECTION("a blob of a later layer wrong: nothing before it is written either") {
    caffetest::write_file(model, caffetest::net({conv1, good_bn(), layer("branch", "Convolution", {blob({2, 2, 1, 1}, caffetest::ramp(4)), blob({3}, caffetest::ramp(3))})}));
    CHECK_THROWS_WITH(nn::load_caffe(net->layers(), model, proto),
                      Catch::Contains("layer 'branch' blob 1 (biases) has shape (3,), but " + proto + ":4 needs (2,) (out,)"));
    CHECK(state() == before);
  }
  SECTION("Eltwise PROD and MAX") {
    for (const char* op : {"PROD", "MAX"}) {
      caffetest::write_file(proto, head + "layer { name: \"res\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"branch\" top: \"res\"\n"
                                          "  eltwise_param { operation: " + op + " } }\n");
      CHECK_THROWS_WITH(nn::caffe_network<float>(proto),
                        Catch::StartsWith(proto + ":6: Eltwise 'res' has operation " + op + "; graft builds only SUM"));
      CHECK_THROWS_WITH(nn::load_caffe(net->layers(), model, proto), Catch::StartsWith(proto + ":6: Eltwise 'res'"));
    }
    CHECK(state() == before);
  }
  SECTION("a bottom that no layer wrote") {
    caffetest::write_file(proto, head + "layer { name: \"res\" type: \"Eltwise\" bottom: \"conv1\" bottom: \"branch2\" top: \"res\" }\n");
    CHECK_THROWS_WITH(nn::caffe_network<float>(proto),
                      Catch::StartsWith(proto + ":5: layer 'res' reads blob 'branch2', which neither the input nor a layer before it writes"));
    CHECK_THROWS_WITH(nn::load_caffe(net->layers(), model, proto), Catch::StartsWith(proto + ":5: layer 'res' reads blob 'branch2'"));
    CHECK(state() == before);
  }
}
