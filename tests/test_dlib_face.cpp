// [dlib] dlib's face ResNet on graft (nn/dlib_face.hpp):
//   - the architecture: dlib's sizes (150 -> 72 -> 35 -> 17 -> 8 -> 4 -> 2 -> 1), parameter
//     counts, frozen affines; the record sequence of the real file;
//   - loading: a file of the full architecture (written here with made-up weights) loads
//     into the right parameters (fc transposed), and a record of other geometry is refused,
//     naming the file, the offset, the record and the node;
//   - parity with dlib itself (libdlib-dev, tests/dlib/dlib_oracle.cpp): graft's CPU
//     descriptors of real UTKFace chips match dlib's to max |d| <= 1e-4 (dlib is fp32 im2col +
//     BLAS, graft fp32 with its own algorithms: both round differently, ~1e-6 expected), and
//     the file dlib 19.24 re-saves (con_5, affine_2, fc_3) reads to the same arrays.
//   - arch dlib-face (nn::build): the head on fc or pool, a .dat through load_weights_file,
//     the feature cache at the head.
// Skips, saying why, without the model file, libdlib-dev or the data folder.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "graft/graft.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/nn/feature_cache.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/nn/weights_file.hpp"
#include "support/dlib_files.hpp"
#include "support/io_files.hpp"
#include "support/skip.hpp"

using namespace graft;

namespace {
const std::string kOracle = GRAFT_DLIB_ORACLE;

std::string model_or_skip() {
  const std::string m = nn::dlib_face_model_path();
  if (m.empty())
    GRAFT_SKIP("dlib_face_recognition_resnet_model_v1.dat not found (set GRAFT_DLIB_MODEL or run cmake/fetch-dlib-model.sh)");
  return m;
}
std::string oracle_or_skip() {
  if (kOracle.empty()) GRAFT_SKIP("libdlib-dev was not found at configure time (pkg-config dlib-1): no dlib to compare with");
  return kOracle;
}

// A DlibNet of the full architecture with made-up weights (distinct per record), as the
// reader would return it.
io::DlibNet synthetic_face_net() {
  io::DlibNet n;
  n.file = "synthetic.dat";
  n.loss = "loss_metric_2";
  n.margin = 0.04f;
  n.dist_thresh = 0.6f;
  n.input = "input_rgb_image_sized";
  n.mean[0] = 120.5f;
  n.mean[1] = 110.25f;
  n.mean[2] = 100.125f;
  n.rows = n.cols = 150;
  const auto plan = nn::dlib_face_resnet_records();
  float salt = 0.001f;
  for (const auto& r : plan) {
    io::DlibLayer l;
    switch (r.kind) {
      case io::DlibKind::con:
        l = dlibtest::con("con_4", r.out, r.in, r.kernel, r.stride, r.pad, true);
        l.weights = dlibtest::array(l.weights.shape(), salt, 1e-4f);
        break;
      case io::DlibKind::affine:
        l = dlibtest::affine("affine_", r.out);
        l.weights = dlibtest::array(Shape{r.out}, 0.5f + salt, 0.01f);
        break;
      case io::DlibKind::fc: l = dlibtest::fc("fc_2", r.out, r.in, false); break;
      case io::DlibKind::max_pool: l = dlibtest::pool(r.kind, r.kernel, r.stride, 0); break;
      case io::DlibKind::avg_pool: l = dlibtest::pool(r.kind, r.kernel, r.stride, 0); break;
      case io::DlibKind::relu: l = dlibtest::simple(r.kind, "relu_"); break;
      case io::DlibKind::add_prev: l = dlibtest::simple(r.kind, "add_prev_"); break;
      case io::DlibKind::tag: l = dlibtest::simple(r.kind, ""); break;
    }
    salt += 0.001f;
    n.layers.push_back(std::move(l));
  }
  return n;
}

io::DlibNet reread(const io::DlibNet& n, std::string* bytes_out = nullptr) {
  const std::string bytes = dlibtest::encode(n).bytes();
  if (bytes_out) *bytes_out = bytes;
  io::MemorySource src(bytes.data(), bytes.size(), n.file);
  return io::read_dlib(src);
}

std::vector<float> host(const Tensor<float, CPU>& t) { return std::vector<float>(t.data(), t.data() + t.size()); }

// Chips from the first `count` UTKFace crops (sorted names, every 97th, so that ages, sexes
// and races mix), made as nn::dlib_face_chip makes them.
std::vector<data::Image> utkface_chips(size_t count) {
  const std::string dir = iotest::data_dir();
  if (dir.empty() || !std::filesystem::is_directory(dir + "/utkface"))
    GRAFT_SKIP("no UTKFace crops (GRAFT_DATA/utkface) for the parity chips");
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/utkface"))
    if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<data::Image> chips;
  for (size_t i = 0; i < files.size() && chips.size() < count; i += 97) {
    data::Image crop = data::load_image(files[i]), chip;
    if (crop.width != crop.height) continue;
    nn::dlib_face_chip(crop, chip);
    chips.push_back(std::move(chip));
  }
  REQUIRE(chips.size() == count);
  return chips;
}

// graft's descriptors (n x 128) of the chips on the CPU.
std::vector<float> graft_descriptors(nn::Network<float, CPU>& net, const nn::DlibFaceInfo& info,
                                     const std::vector<data::Image>& chips) {
  const int64_t n = int64_t(chips.size());
  Tensor<float, CPU> x(Shape{n, 3, 150, 150});
  for (int64_t i = 0; i < n; ++i) nn::dlib_face_input(chips[size_t(i)], info, x.data() + i * 3 * 150 * 150);
  const auto& y = net.forward(x);
  REQUIRE(y.shape() == (Shape{n, 128}));
  return host(y);
}

// dlib's descriptors of the same chips, from the oracle.
std::vector<float> dlib_descriptors(const std::string& model, const std::vector<data::Image>& chips,
                                    const iotest::TempDir& tmp) {
  std::string raw;
  for (const auto& c : chips) raw.append(reinterpret_cast<const char*>(c.rgb.data()), c.rgb.size());
  dlibtest::write_file(tmp.path("chips.rgb"), raw);
  const std::string cmd = iotest::shell_quote(oracle_or_skip()) + " " + iotest::shell_quote(model) + " " +
                          iotest::shell_quote(tmp.path("chips.rgb")) + " " + std::to_string(chips.size()) + " " +
                          iotest::shell_quote(tmp.path("dlib.f32"));
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string out = iotest::read_bytes(tmp.path("dlib.f32"));
  REQUIRE(out.size() == chips.size() * 128 * 4);
  std::vector<float> d(chips.size() * 128);
  std::memcpy(d.data(), out.data(), out.size());
  return d;
}
}  // namespace

TEST_CASE("dlib's face ResNet on graft has dlib's sizes and parameter counts", "[dlib]") {
  auto net = nn::dlib_face_resnet<float>();
  auto shape = [&](const std::string& node) { return net->shape_after(net->index_of(node)); };
  CHECK(shape("conv1") == (Shape{1, 32, 72, 72}));   // 7x7/2, no padding: 149 dropped
  CHECK(shape("pool1") == (Shape{1, 32, 35, 35}));   // max 3x3/2
  CHECK(shape("level1_b3_relu") == (Shape{1, 32, 35, 35}));
  CHECK(shape("level2_b1_conv1") == (Shape{1, 64, 17, 17}));  // 3x3/2, no padding
  CHECK(shape("level2_b1_pool") == (Shape{1, 32, 17, 17}));   // the shortcut: avg 2x2/2
  CHECK(shape("level2_b1_add") == (Shape{1, 64, 17, 17}));    // channels zero-padded
  CHECK(shape("level3_b1_add") == (Shape{1, 128, 8, 8}));
  CHECK(shape("level4_b1_conv2") == (Shape{1, 256, 3, 3}));
  CHECK(shape("level4_b1_pool") == (Shape{1, 128, 4, 4}));
  CHECK(shape("level4_b1_add") == (Shape{1, 256, 4, 4}));     // channels and space padded
  CHECK(shape("level5_b1_conv2") == (Shape{1, 256, 1, 1}));
  CHECK(shape("level5_b1_add") == (Shape{1, 256, 2, 2}));
  CHECK(net->output_shape() == (Shape{1, 128}));
  CHECK(net->parameter_count() == 5614592);        // every float of the file
  CHECK(net->parameter_count(true) == 5607488);    // the affines are frozen, as in dlib
  CHECK(nn::dlib_face_resnet_kinds().size() == 130);
  CHECK(!net->learns("level3_b2_affine1"));
  CHECK(net->learns("level3_b2_conv1"));
}

TEST_CASE("loading a dlib file puts every record into its node, and refuses other geometry", "[dlib]") {
  const io::DlibNet file = reread(synthetic_face_net());
  auto net = nn::dlib_face_resnet<float>();
  const nn::DlibFaceInfo info = nn::load_dlib_face(*net, file);
  CHECK(info.mean[0] == 120.5f);
  CHECK(info.mean[2] == 100.125f);
  CHECK(info.size == 150);
  CHECK(info.dist_thresh == Approx(0.6));
  const auto plan = nn::dlib_face_resnet_records();
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].node.empty() || plan[i].kind == io::DlibKind::max_pool || plan[i].kind == io::DlibKind::avg_pool) continue;
    INFO("record " << i << " node " << plan[i].node);
    const io::DlibLayer& l = file.layers[i];
    auto params = net->find(plan[i].node).params();
    REQUIRE(!params.empty());
    const std::vector<float> w = host(params[0]->value);
    const float* want = reinterpret_cast<const float*>(l.weights.data());
    if (l.kind == io::DlibKind::fc) {  // (in, out) -> (out, in)
      const int64_t in = l.inputs, out = l.outputs;
      bool same = true;
      for (int64_t a = 0; a < in && same; ++a)
        for (int64_t b = 0; b < out; ++b) same = same && w[size_t(b * in + a)] == want[a * out + b];
      CHECK(same);
    } else {
      CHECK(std::equal(w.begin(), w.end(), want));
      const std::vector<float> b = host(params[1]->value);
      CHECK(std::equal(b.begin(), b.end(), reinterpret_cast<const float*>(l.biases.data())));
    }
  }
  // A stride that differs: refused, naming the file, the record's offset and the node.
  io::DlibNet bad = synthetic_face_net();
  size_t k = 0;
  while (plan[k].node != "level3_b1_conv1") ++k;
  bad.layers[k].stride_y = bad.layers[k].stride_x = 1;
  bad.layers[k].pad_y = bad.layers[k].pad_x = 1;
  const io::DlibNet bad_file = reread(bad);
  auto net2 = nn::dlib_face_resnet<float>();
  CHECK_THROWS_WITH(nn::load_dlib_face(*net2, bad_file),
                    Catch::StartsWith("synthetic.dat: offset " + std::to_string(bad_file.layers[k].offset) + ": record " +
                                      std::to_string(k) + " ('con_4', node level3_b1_conv1): ") &&
                        Catch::Contains("3x3 stride 1 pad 1") && Catch::Contains("has 3x3 stride 2 pad 0"));
  // A record of another kind where the architecture has a tag.
  io::DlibNet wrong = synthetic_face_net();
  wrong.layers.insert(wrong.layers.begin() + 4, dlibtest::simple(io::DlibKind::relu, "relu_"));
  wrong.layers.erase(wrong.layers.begin() + 3);
  CHECK_THROWS_WITH(nn::load_dlib_face(*net2, reread(wrong)),
                    Catch::Contains("record 3 is relu ('relu_'), but dlib's face ResNet") && Catch::Contains("has max_pool there"));
  // Another input size.
  io::DlibNet small = synthetic_face_net();
  small.rows = 120;
  CHECK_THROWS_WITH(nn::load_dlib_face(*net2, reread(small)), Catch::Contains("input 'input_rgb_image_sized' of 120 x 150"));
}

TEST_CASE("the real model file has the records of dlib's face ResNet and loads", "[dlib]") {
  const io::DlibNet file = io::read_dlib(model_or_skip());
  CHECK_NOTHROW(io::check_dlib_layers(file, nn::dlib_face_resnet_kinds(), "dlib's face ResNet"));
  auto net = nn::dlib_face_resnet<float>();
  const nn::DlibFaceInfo info = nn::load_dlib_face(*net, file);
  CHECK(info.mean[1] == Approx(117.001).epsilon(1e-6));
}

TEST_CASE("graft's CPU descriptors match dlib's on UTKFace chips (max |d| <= 1e-4)", "[dlib]") {
  const std::string model = model_or_skip();
  oracle_or_skip();
  const std::vector<data::Image> chips = utkface_chips(12);
  iotest::TempDir tmp;
  const std::vector<float> want = dlib_descriptors(model, chips, tmp);
  auto net = nn::dlib_face_resnet<float>();
  const nn::DlibFaceInfo info = nn::load_dlib_face(*net, model);
  const std::vector<float> got = graft_descriptors(*net, info, chips);
  double worst = 0, worst_rel = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, double(std::fabs(got[i] - want[i])));
    norm += double(want[i]) * want[i];
  }
  norm = std::sqrt(norm / double(chips.size()));
  worst_rel = worst / norm;
  std::printf("dlib parity: %zu chips, max |graft - dlib| = %.3g (descriptor norm %.3f, %.2g relative)\n", chips.size(),
              worst, norm, worst_rel);
  CHECK(worst <= 1e-4);
  CHECK(norm > 0.5);  // real faces: dlib's norms are about 1.4
  // Distances between different people stay what dlib says they are.
  auto dist = [&](const std::vector<float>& d, size_t a, size_t b) {
    double s = 0;
    for (int k = 0; k < 128; ++k) s += double(d[a * 128 + k] - d[b * 128 + k]) * (d[a * 128 + k] - d[b * 128 + k]);
    return std::sqrt(s);
  };
  for (size_t a = 0; a + 1 < chips.size(); ++a) CHECK(dist(got, a, a + 1) == Approx(dist(want, a, a + 1)).margin(2e-4));
}

TEST_CASE("the model as dlib 19.24 re-saves it (con_5, affine_2, fc_3) reads to the same arrays", "[dlib]") {
  const std::string model = model_or_skip();
  const std::string oracle = oracle_or_skip();
  iotest::TempDir tmp;
  const std::string resaved = tmp.path("resaved.dat");
  REQUIRE(std::system((iotest::shell_quote(oracle) + " " + iotest::shell_quote(model) + " --resave " +
                       iotest::shell_quote(resaved))
                          .c_str()) == 0);
  const io::DlibNet a = io::read_dlib(model), b = io::read_dlib(resaved);
  CHECK(std::filesystem::file_size(resaved) == std::filesystem::file_size(model) + 88);  // 29 + 2*29 + 1 more bytes
  REQUIRE(a.layers.size() == b.layers.size());
  size_t renamed = 0;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    INFO("record " << i);
    const io::DlibLayer &x = a.layers[i], &y = b.layers[i];
    CHECK(x.kind == y.kind);
    if (x.version != y.version) ++renamed;
    CHECK(x.bias == y.bias);
    CHECK(x.weights.nbytes() == y.weights.nbytes());
    CHECK(std::memcmp(x.weights.data(), y.weights.data(), x.weights.nbytes()) == 0);
    CHECK(std::memcmp(x.biases.data(), y.biases.data(), x.biases.nbytes()) == 0);
  }
  CHECK(renamed == 59);  // 29 con_5, 29 affine_2, 1 fc_3
  CHECK(b.layers[0].version == "con_5");
  CHECK(b.layers[1].version == "affine_2");
  CHECK(b.layers.back().version == "fc_3");
  auto net = nn::dlib_face_resnet<float>();
  CHECK_NOTHROW(nn::load_dlib_face(*net, b));
}

TEST_CASE("dlib's average pool (mean over the window clipped to the input) is AvgPool2d with count_pad = false", "[dlib]") {
  // dlib: out = 1 + (H + 2p - k) / s (floor); window rows [r*s - p, r*s - p + k) clipped to
  // [0, H); the divisor is the number of input cells inside. This model's pools have p = 0,
  // where both divisors agree; here p = 1 tells them apart.
  const int64_t H = 7, W = 6, C = 2;
  const int k = 3, s = 2, p = 1;
  Tensor<float, CPU> x(Shape{1, C, H, W});
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = float(std::sin(0.7 * double(i)) * 3.0 + 0.1 * double(i % 7));
  nn::Network<float, CPU> net(Shape{C, H, W});
  net.avg_pool("pool", k, s, p, false, false);
  const auto& y = net.forward(x);
  const int64_t oh = 1 + (H + 2 * p - k) / s, ow = 1 + (W + 2 * p - k) / s;
  REQUIRE(y.shape() == (Shape{1, C, oh, ow}));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < oh; ++r)
      for (int64_t q = 0; q < ow; ++q) {
        double sum = 0;
        int count = 0;
        for (int64_t i = r * s - p; i < r * s - p + k; ++i)
          for (int64_t j = q * s - p; j < q * s - p + k; ++j)
            if (i >= 0 && i < H && j >= 0 && j < W) {
              sum += x.data()[(c * H + i) * W + j];
              ++count;
            }
        CHECK(y.data()[(c * oh + r) * ow + q] == Approx(sum / count).margin(1e-6));
      }
}

TEST_CASE("arch dlib-face: a Linear head on fc or pool, loaded from a .dat by load_weights_file, cached at the head", "[dlib]") {
  iotest::TempDir tmp;
  const std::string dat = tmp.path("synthetic.dat");
  dlibtest::write_file(dat, dlibtest::encode(synthetic_face_net()).bytes());
  for (const std::string on : {"fc", "pool"}) {
    INFO("head on " << on);
    nn::ModelInfo m;
    m.arch = "dlib-face";
    m.vgg.input = 150;
    m.classes = {"a", "b", "c"};
    m.head_on = on;
    m.dist_thresh = 0.6;
    auto net = nn::build<float>(m);
    const int head = net->index_of("head");
    REQUIRE(head == int(net->size()) - 1);  // the head ends the network
    CHECK(net->inputs_of(size_t(head)) == std::vector<int>{net->index_of(on)});
    CHECK(net->output_shape() == Shape({1, 3}));
    CHECK((net->index_of("fc") >= 0) == (on == "fc"));  // on pool, no unread descriptor beside it
    // Every program loads a .dat through load_weights_file: the trunk, the head left alone.
    nn::LoadOptions o;
    o.skip = {"head"};
    const nn::LoadReport rep = nn::load_weights_file(net->layers(), dat, "", o);
    CHECK(rep.initial == std::vector<std::string>{"head/weights", "head/biases"});
    CHECK(rep.loaded.size() == (on == "fc" ? 117u : 116u));
    const auto& a1 = host(net->find("affine1").params()[0]->value);
    CHECK(a1[0] == Approx(0.5f + 0.002f));  // record 1's scale (salted 0.001 per record)
    // Fine-tuning the head alone: the frozen trunk (affines included) is deterministic, so the
    // feature cache sits at the head's input.
    net->unfreeze_from("head");
    CHECK(nn::cache_boundary(*net) == size_t(head));
    // The description keeps where the head is and the threshold.
    const nn::ModelInfo back = nn::ModelInfo::parse(m.str(), "test");
    CHECK(back.head_on == on);
    CHECK(back.dist_thresh == Approx(0.6));
  }
  // A .dat into a network that is not dlib's: refused, naming the file and the node.
  nn::ModelInfo v;
  v.arch = "vgg16";
  v.vgg.width = 0.125;
  v.vgg.input = 32;
  v.classes = {"a", "b"};
  auto vgg = nn::build<float>(v);
  CHECK_THROWS_WITH(nn::load_weights_file(vgg->layers(), dat), Catch::Contains(dat + ": the network has no node conv1"));
  CHECK(nn::weights_kind(dat) == nn::WeightsKind::dlib);
}

TEST_CASE("arch dlib-face for training from scratch: BatchNorm in place of the affines; chip and trunk_norm described", "[dlib]") {
  nn::ModelInfo m;
  m.arch = "dlib-face";
  m.vgg.input = 150;
  m.classes = {"m", "f"};
  m.trunk_norm = "batchnorm";
  m.chip = "resize";
  auto net = nn::build<float>(m);
  // Each affine's place holds a learning BatchNorm2d named ..bnK, wired where the affine was.
  CHECK(net->index_of("level3_b2_affine1") < 0);
  REQUIRE(net->index_of("level3_b2_bn1") >= 0);
  CHECK(std::string(net->find("level3_b2_bn1").type()) == "BatchNorm2d");
  CHECK(net->learns("level3_b2_bn1"));
  CHECK(net->inputs_of(size_t(net->index_of("level3_b2_relu1"))) == std::vector<int>{net->index_of("level3_b2_bn1")});
  CHECK(net->inputs_of(size_t(net->index_of("level2_b1_add"))) ==
        (std::vector<int>{net->index_of("level2_b1_pool"), net->index_of("level2_b1_bn2")}));
  CHECK(net->shape_after(net->index_of("level4_b1_add")) == (Shape{1, 256, 4, 4}));
  CHECK(net->output_shape() == (Shape{1, 2}));
  // BatchNorm has no buffer-free shortcut: nothing below the head is frozen, so nothing is cached.
  CHECK(nn::cache_boundary(*net) == 0);
  // A training step runs and moves the running statistics.
  net->initialize(3);
  net->set_training(true);
  Tensor<float> x(Shape{2, 3, 150, 150});
  Rng rng(5);
  for (auto& v : x) v = float(rng.normal());
  const Tensor<float>& y = net->forward(x);
  REQUIRE(y.shape() == (Shape{2, 2}));
  for (float v : y) CHECK(std::isfinite(v));
  // The description keeps both choices; an older description without them reads as dlib's.
  const nn::ModelInfo back = nn::ModelInfo::parse(m.str(), "test");
  CHECK(back.trunk_norm == "batchnorm");
  CHECK(back.chip == "resize");
  std::string old = m.str();
  old = old.substr(0, old.find("chip="));
  const nn::ModelInfo legacy = nn::ModelInfo::parse(old, "old");
  CHECK(legacy.trunk_norm == "affine");
  CHECK(legacy.chip == "dlib");
  std::string bad = m.str();
  bad.replace(bad.find("trunk_norm=batchnorm"), 20, "trunk_norm=groupnorm");
  CHECK_THROWS_WITH(nn::ModelInfo::parse(bad, "bad.npz"), Catch::Contains("bad.npz") && Catch::Contains("groupnorm"));
}
