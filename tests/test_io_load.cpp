// [io] Loading weights files into layers and saving layers as weights files. NumPy writes the
// file and computes, independently, what graft's parameters must become (conv HWIO->OIHW,
// fc (in, out)->(out, in) with fc6's H,W,C rows permuted to C,H,W); and NumPy checks the
// files graft saves the same way in reverse.
#include <catch2/catch.hpp>

#include <cfloat>
#include <memory>

#include "graft/cpu.hpp"
#include "graft/io.hpp"
#include "graft/nn/load_weights.hpp"
#include "support/io_files.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using namespace graft::io;
using nn::LoadOptions;
using nn::LoadReport;
using iotest::NumpyRef;

namespace {

// A VGG-shaped chain: conv1 -> relu -> pool -> conv2 -> relu -> pool -> [flatten] -> fc6
// (spatial input 6x2x2) -> relu -> fc7 -> fc8, on 8x8 RGB input.
template <class T>
struct TinyNet {
  struct Config {
    int64_t conv1_out = 4, fc7_out = 3;
    bool flatten = false, fc7_bias = true, with_fc8 = true, setup = true;
  };
  Context<CPU> ctx;
  std::vector<std::unique_ptr<Layer<T, CPU>>> owned;

  explicit TinyNet(Config c = Config()) {
    owned.push_back(std::make_unique<Conv2d<T>>("conv1", 3, c.conv1_out, 3, 1, 1));
    owned.push_back(std::make_unique<ReLU<T>>("relu1"));
    owned.push_back(std::make_unique<MaxPool2d<T>>("pool1", 2, 2));
    owned.push_back(std::make_unique<Conv2d<T>>("conv2", c.conv1_out, 6, 3, 1, 1));
    owned.push_back(std::make_unique<ReLU<T>>("relu2"));
    owned.push_back(std::make_unique<MaxPool2d<T>>("pool2", 2, 2));
    if (c.flatten) owned.push_back(std::make_unique<Flatten<T>>("flatten"));
    owned.push_back(std::make_unique<Linear<T>>("fc6", 0, 5));
    owned.push_back(std::make_unique<ReLU<T>>("relu6"));
    owned.push_back(std::make_unique<Linear<T>>("fc7", 0, c.fc7_out, c.fc7_bias));
    if (c.with_fc8) owned.push_back(std::make_unique<Linear<T>>("fc8", 0, 2));
    if (!c.setup) return;
    Shape s{1, 3, 8, 8};
    for (auto& l : owned) s = l->setup(s, ctx);
  }
  std::vector<Layer<T, CPU>*> layers() {
    std::vector<Layer<T, CPU>*> v;
    for (auto& l : owned) v.push_back(l.get());
    return v;
  }
  Param<T, CPU>& param(const std::string& layer, const std::string& name) {
    for (auto& l : owned)
      if (l->name() == layer)
        for (auto* p : l->params())
          if (p->name == name) return *p;
    throw Error("no " + layer + "/" + name);
  }
  // Every parameter's values, to see what a call changed.
  std::vector<std::vector<T>> snapshot() {
    std::vector<std::vector<T>> out;
    for (auto& l : owned)
      for (auto* p : l->params()) out.emplace_back(p->value.begin(), p->value.end());
    return out;
  }
};

// The file's arrays for TinyNet, in caffe-tensorflow layout, for io_ref.py net-dict.
const char* kSpec =
    "'[{\"layer\":\"conv1\",\"param\":\"weights\",\"file_shape\":[3,3,3,4],\"transform\":\"conv\"},"
    "{\"layer\":\"conv1\",\"param\":\"biases\",\"file_shape\":[4],\"transform\":\"none\"},"
    "{\"layer\":\"conv2\",\"param\":\"weights\",\"file_shape\":[3,3,4,6],\"transform\":\"conv\"},"
    "{\"layer\":\"conv2\",\"param\":\"biases\",\"file_shape\":[6],\"transform\":\"none\"},"
    "{\"layer\":\"fc6\",\"param\":\"weights\",\"file_shape\":[24,5],\"transform\":\"fc\",\"chw\":[6,2,2]},"
    "{\"layer\":\"fc6\",\"param\":\"biases\",\"file_shape\":[5],\"transform\":\"none\"},"
    "{\"layer\":\"fc7\",\"param\":\"weights\",\"file_shape\":[5,3],\"transform\":\"fc\",\"chw\":[5,1,1]},"
    "{\"layer\":\"fc7\",\"param\":\"biases\",\"file_shape\":[3],\"transform\":\"none\"},"
    "{\"layer\":\"fc8\",\"param\":\"weights\",\"file_shape\":[3,2],\"transform\":\"fc\",\"chw\":[3,1,1]},"
    "{\"layer\":\"fc8\",\"param\":\"biases\",\"file_shape\":[2],\"transform\":\"none\"}]'";

const std::vector<std::string> kTrunk = {"conv1/weights", "conv1/biases", "conv2/weights", "conv2/biases",
                                         "fc6/weights",   "fc6/biases",   "fc7/weights",   "fc7/biases"};

template <class T>
void expect_equals_bin(const NumpyRef& ref, TinyNet<T>& net, const std::string& layer, const std::string& param) {
  INFO(layer << "/" << param);
  const std::string want = iotest::read_bytes(ref.path(layer + "_" + param + ".bin"));  // float32, graft layout
  const Tensor<T>& got = net.param(layer, param).value;
  REQUIRE(want.size() == size_t(got.size()) * 4);
  for (int64_t i = 0; i < got.size(); ++i) {
    float w;
    std::memcpy(&w, want.data() + 4 * i, 4);
    REQUIRE(got[i] == T(w));
  }
}

}  // namespace

TEST_CASE("load_weights puts NumPy's caffe-tensorflow dict into a network, fc8 skipped", "[io]") {
  NumpyRef ref;
  ref.make("net-dict", "", kSpec);
  for (bool flatten : {false, true}) {
    INFO("explicit Flatten before fc6: " << flatten);
    typename TinyNet<float>::Config c;
    c.flatten = flatten;
    TinyNet<float> net(c);
    const std::vector<float> fc8_weights(net.param("fc8", "weights").value.begin(), net.param("fc8", "weights").value.end());
    const LoadReport r = nn::load_weights(net.layers(), ref.path("net.npy"), LoadOptions{{"fc8"}});
    for (const auto& name : kTrunk) expect_equals_bin(ref, net, name.substr(0, name.find('/')), name.substr(name.find('/') + 1));
    CHECK(std::vector<float>(net.param("fc8", "weights").value.begin(), net.param("fc8", "weights").value.end()) == fc8_weights);
    CHECK(r.loaded == kTrunk);
    CHECK(r.initial == std::vector<std::string>{"fc8/weights", "fc8/biases"});
    CHECK(r.skipped == std::vector<std::string>{"fc8/weights", "fc8/biases"});
    CHECK(r.ignored.empty());
    CHECK(r.str().find("left at initial values 2: fc8/weights, fc8/biases") != std::string::npos);
  }
  // Without the skip, fc8 is loaded too.
  TinyNet<float> net;
  const LoadReport r = nn::load_weights(net.layers(), ref.path("net.npy"));
  expect_equals_bin(ref, net, "fc8", "weights");
  CHECK(r.loaded.size() == 10);
  CHECK(r.initial.empty());
}

TEST_CASE("load_weights refuses what does not fit, and then changes nothing", "[io]") {
  NumpyRef ref;
  ref.make("net-dict", "", kSpec);
  const std::string file = ref.path("net.npy");
  const WeightsDict w = read_weights(file);
  using Config = TinyNet<float>::Config;

  SECTION("a shape mismatch names the layer, the parameter and both shapes") {
    Config c;
    c.conv1_out = 5;
    TinyNet<float> net(c);
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), file),
                      Catch::Contains(file) && Catch::Contains("conv1/weights") && Catch::Contains("(3, 3, 3, 4)") &&
                          Catch::Contains("(3, 3, 3, 5) HWIO, i.e. (5, 3, 3, 3) OIHW"));
  }
  SECTION("a mismatch late in the file leaves earlier layers untouched") {
    Config c;
    c.fc7_out = 4;
    TinyNet<float> net(c);
    const auto before = net.snapshot();
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), w),
                      Catch::Contains("fc7/weights") && Catch::Contains("the file has (5, 3)") && Catch::Contains("(5, 4)"));
    CHECK(net.snapshot() == before);
  }
  SECTION("a layer the network lacks: an error, unless skipped or ignored") {
    Config c;
    c.with_fc8 = false;
    TinyNet<float> net(c);
    const auto before = net.snapshot();
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), w), Catch::Contains("the file has layer 'fc8'"));
    CHECK(net.snapshot() == before);
    LoadOptions ignore;
    ignore.ignore_unmatched = true;
    const LoadReport r = nn::load_weights(net.layers(), w, ignore);
    CHECK(r.ignored == std::vector<std::string>{"fc8/weights", "fc8/biases"});
    CHECK(r.loaded == kTrunk);
    TinyNet<float> net2(c);
    CHECK(nn::load_weights(net2.layers(), w, LoadOptions{{"fc8"}}).skipped.size() == 2);
  }
  SECTION("a parameter the layer lacks (fc7 without bias)") {
    Config c;
    c.fc7_bias = false;
    TinyNet<float> net(c);
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), w), Catch::Contains("fc7/biases") && Catch::Contains("has weights"));
    LoadOptions ignore;
    ignore.ignore_unmatched = true;
    CHECK(nn::load_weights(net.layers(), w, ignore).ignored == std::vector<std::string>{"fc7/biases"});
  }
  SECTION("a skip name that matches nothing is a typo") {
    TinyNet<float> net;
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), w, LoadOptions{{"fc9"}}), Catch::Contains("'fc9'"));
  }
  SECTION("layers must be set up first") {
    Config c;
    c.setup = false;
    TinyNet<float> net(c);
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), w), Catch::Contains("not set up"));
  }
  SECTION("float64 values beyond float's range") {
    TinyNet<float> net;
    WeightsDict big;
    Array b(DType::f8, Shape{4});
    const double v[4] = {1, 2, 1e300, 3};
    std::memcpy(b.data(), v, sizeof v);
    big.add("conv1", "biases", b);
    CHECK_THROWS_WITH(nn::load_weights(net.layers(), big), Catch::Contains("conv1/biases") && Catch::Contains("range"));
    TinyNet<double> dnet;  // a double network takes it
    nn::load_weights(dnet.layers(), big);
    CHECK(dnet.param("conv1", "biases").value[2] == 1e300);
  }
}

TEST_CASE("save_weights writes what NumPy reads in caffe-tensorflow layout; loading it restores the network", "[io]") {
  NumpyRef ref;
  iotest::WrittenList list(ref);
  typename TinyNet<float>::Config c;
  c.flatten = true;
  TinyNet<float> net(c);
  for (auto* l : net.layers())
    for (auto* p : l->params()) test::fill_normal(p->value, random::hash((l->name() + p->name).c_str()));
  nn::save_weights(net.layers(), ref.path("saved.npy"));
  nn::save_weights(net.layers(), ref.path("saved.npz"));
  nn::save_weights(net.layers(), ref.path("packed.npz"), WeightsFormat::npz_compressed);
  struct Item { std::string layer, param, transform; Shape file; int64_t c, h, w; };
  const Item items[] = {{"conv1", "weights", "conv", Shape{3, 3, 3, 4}, 0, 0, 0}, {"conv1", "biases", "", Shape{4}, 0, 0, 0},
                        {"conv2", "weights", "conv", Shape{3, 3, 4, 6}, 0, 0, 0}, {"conv2", "biases", "", Shape{6}, 0, 0, 0},
                        {"fc6", "weights", "fc", Shape{24, 5}, 6, 2, 2},          {"fc6", "biases", "", Shape{5}, 0, 0, 0},
                        {"fc7", "weights", "fc", Shape{5, 3}, 5, 1, 1},           {"fc7", "biases", "", Shape{3}, 0, 0, 0},
                        {"fc8", "weights", "fc", Shape{3, 2}, 3, 1, 1},           {"fc8", "biases", "", Shape{2}, 0, 0, 0}};
  for (const auto& it : items)
    for (const char* f : {"saved.npy", "saved.npz", "packed.npz"}) {
      const Array a = Array::from_tensor(net.param(it.layer, it.param).value);
      const std::string kind = std::string(f).find(".npz") != std::string::npos ? "npz" : "dict";
      if (it.transform.empty())
        list.add(kind, f, it.layer + "/" + it.param, a);
      else
        list.add_transformed(kind, f, it.layer + "/" + it.param, a, it.file, it.transform, it.c, it.h, it.w);
    }
  CHECK(list.check());
  for (const char* f : {"saved.npy", "saved.npz", "packed.npz"}) {
    INFO(f);
    TinyNet<float> fresh(c);
    const auto before = fresh.snapshot();
    const LoadReport r = nn::load_weights(fresh.layers(), ref.path(f));
    CHECK(r.loaded.size() == 10);
    CHECK(fresh.snapshot() == net.snapshot());
    CHECK(before != net.snapshot());
  }
}

TEST_CASE("double networks save float64 and load float32 files", "[io]") {
  iotest::TempDir tmp;
  TinyNet<double> net;
  for (auto* l : net.layers())
    for (auto* p : l->params()) test::fill_normal(p->value, 11);
  nn::save_weights(net.layers(), tmp.path("d.npy"));
  CHECK(read_weights(tmp.path("d.npy")).at("fc6", "weights").dtype() == DType::f8);
  TinyNet<double> back;
  nn::load_weights(back.layers(), tmp.path("d.npy"));
  CHECK(back.snapshot() == net.snapshot());
  TinyNet<float> f;
  nn::save_weights(f.layers(), tmp.path("f.npy"));
  TinyNet<double> widened;
  nn::load_weights(widened.layers(), tmp.path("f.npy"));
  const auto fs = f.snapshot();
  const auto ws = widened.snapshot();
  for (size_t i = 0; i < fs.size(); ++i)
    for (size_t k = 0; k < fs[i].size(); ++k) REQUIRE(ws[i][k] == double(fs[i][k]));
}

TEST_CASE("the real MTCNN det1/det2 weights load into graft layers", "[io]") {
  const std::string data = iotest::caffe_tf_dir();
  if (data.empty()) GRAFT_SKIP("no caffe-tensorflow/det{1,2,3}.npy in the data folder (set GRAFT_DATA or provide ../shared/data)");
  Context<CPU> ctx;
  // det1 (P-Net) without its PReLUs, which graft has no layer for: they are ignored.
  Conv2d<float> c1("conv1", 3, 10, 3), c2("conv2", 10, 16, 3), c3("conv3", 16, 32, 3), c41("conv4-1", 32, 2, 1),
      c42("conv4-2", 32, 4, 1);
  Shape s = c1.setup({1, 3, 12, 12}, ctx);
  s = c2.setup(s, ctx);
  s = c3.setup(s, ctx);
  c41.setup(s, ctx);
  c42.setup(s, ctx);
  LoadOptions ignore;
  ignore.ignore_unmatched = true;
  const std::string det1 = data + "/det1.npy";
  const LoadReport r = nn::load_weights<float, CPU>({&c1, &c2, &c3, &c41, &c42}, det1, ignore);
  CHECK(r.loaded.size() == 10);
  CHECK(r.ignored.size() == 3);  // PReLU1..3/alpha
  CHECK(r.initial.empty());
  const Tensor<float> w1 = read_weights(det1).tensor<float>("conv1", "weights");  // HWIO (3, 3, 3, 10)
  for (int64_t o = 0; o < 10; ++o)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 3; ++w) REQUIRE(c1.weights.value.at(o, i, h, w) == w1[((h * 3 + w) * 3 + i) * 10 + o]);

  // det2 (R-Net): "conv4" is a fully connected layer on conv3's 64x3x3 output, its rows in H,W,C order.
  Linear<float> fc("conv4", 0, 128), fc51("conv5-1", 0, 2);
  fc.setup({1, 64, 3, 3}, ctx);
  fc51.setup({1, 128}, ctx);
  const std::string det2 = data + "/det2.npy";
  const LoadReport r2 = nn::load_weights<float, CPU>({&fc, &fc51}, det2, ignore);
  CHECK(r2.loaded == std::vector<std::string>{"conv5-1/weights", "conv5-1/biases", "conv4/weights", "conv4/biases"});
  const WeightsDict d2 = read_weights(det2);
  const Tensor<float> f = d2.tensor<float>("conv4", "weights");  // (576, 128)
  for (int64_t o = 0; o < 128; ++o)
    for (int64_t c = 0; c < 64; ++c)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 3; ++w) REQUIRE(fc.weights.value[o * 576 + (c * 3 + h) * 3 + w] == f[((h * 3 + w) * 64 + c) * 128 + o]);
  const Tensor<float> g = d2.tensor<float>("conv5-1", "weights");  // (128, 2), stored Fortran-order in the file
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t i = 0; i < 128; ++i) REQUIRE(fc51.weights.value[o * 128 + i] == g[i * 2 + o]);
}

// ---- a device other than the host ----
// Tensor<T, D> forbids element access unless D is CPU (a compile error), so instantiating the
// loader for this device proves it reaches parameters only through copy_from_host and
// copy_to_host, as it must for CUDA. Memory<FakeDevice> is host memory that counts copies.
namespace {
struct FakeDevice {
  static constexpr const char* name = "fake";
};
int g_from_host = 0, g_to_host = 0;
}  // namespace

namespace graft {
template <>
struct Memory<FakeDevice> {
  static void* allocate(size_t bytes) { return Memory<CPU>::allocate(bytes); }
  static void release(void* p) noexcept { Memory<CPU>::release(p); }
  static void copy(void* d, const void* s, size_t n) { Memory<CPU>::copy(d, s, n); }
  static void to_host(void* d, const void* s, size_t n) {
    ++g_to_host;
    Memory<CPU>::copy(d, s, n);
  }
  static void from_host(void* d, const void* s, size_t n) {
    ++g_from_host;
    Memory<CPU>::copy(d, s, n);
  }
  static void zero(void* p, size_t n) { Memory<CPU>::zero(p, n); }
};
template <>
class Context<FakeDevice> {};
}  // namespace graft

namespace {
// Stands in for a device layer: a type name, parameters of the right shapes, no arithmetic.
class FakeLayer : public Layer<float, FakeDevice> {
 public:
  FakeLayer(std::string name, const char* type, Shape w, Shape b) : Layer(std::move(name)), type_(type) {
    weights.name = "weights";
    biases.name = "biases";
    weights.value.resize(w);
    biases.value.resize(b);
  }
  const char* type() const override { return type_; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<float, FakeDevice>&, Tensor<float, FakeDevice>&) override {}
  void backward(const Tensor<float, FakeDevice>&, const Tensor<float, FakeDevice>&, const Tensor<float, FakeDevice>&,
                Tensor<float, FakeDevice>*) override {}
  std::vector<Param<float, FakeDevice>*> params() override { return {&weights, &biases}; }
  // As the layer it stands in for describes its weights in caffe-tensorflow files.
  FileLayout file_layout(const Param<float, FakeDevice>& p) const override {
    if (&p != &weights) return FileLayout::same;
    const std::string t = type_;
    return t == "Conv2d" ? FileLayout::conv_hwio : t == "Linear" ? FileLayout::fc_in_out : FileLayout::same;
  }
  Param<float, FakeDevice> weights, biases;

 private:
  const char* type_;
};
}  // namespace

TEST_CASE("load_weights and save_weights reach device parameters only through host copies", "[io]") {
  iotest::TempDir tmp;
  Context<FakeDevice> ctx;
  FakeLayer conv("conv1", "Conv2d", Shape{4, 3, 3, 3}, Shape{4});
  FakeLayer fc("fc6", "Linear", Shape{5, 4 * 2 * 2}, Shape{5});
  conv.setup(Shape{1, 3, 4, 4}, ctx);
  fc.setup(Shape{1, 4, 2, 2}, ctx);
  WeightsDict w;
  Tensor<float> hwio(Shape{3, 3, 3, 4}), file_fc(Shape{16, 5}), b4(Shape{4}), b5(Shape{5});
  test::fill_normal(hwio, 1);
  test::fill_normal(file_fc, 2);
  test::fill_normal(b4, 3);
  test::fill_normal(b5, 4);
  w.add("conv1", "weights", Array::from_tensor(hwio));
  w.add("conv1", "biases", Array::from_tensor(b4));
  w.add("fc6", "weights", Array::from_tensor(file_fc));
  w.add("fc6", "biases", Array::from_tensor(b5));
  g_from_host = 0;
  const LoadReport r = nn::load_weights<float, FakeDevice>({&conv, &fc}, w);
  CHECK(r.loaded.size() == 4);
  CHECK(g_from_host == 4);
  Tensor<float> got;
  copy_to_host(conv.weights.value, got);
  const Tensor<float> want = hwio_to_oihw(hwio);
  CHECK(std::equal(got.begin(), got.end(), want.begin()));
  copy_to_host(fc.weights.value, got);
  const Tensor<float> want_fc = fc_hwc_to_chw(file_fc, 4, 2, 2);
  CHECK(std::equal(got.begin(), got.end(), want_fc.begin()));
  g_to_host = 0;
  nn::save_weights<float, FakeDevice>({&conv, &fc}, tmp.path("fake.npy"));
  CHECK(g_to_host == 4);
  const WeightsDict back = read_weights(tmp.path("fake.npy"));
  const Tensor<float> saved = back.tensor<float>("fc6", "weights");
  CHECK(std::equal(saved.begin(), saved.end(), file_fc.begin()));
}
