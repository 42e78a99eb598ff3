// [dlib] Reading dlib's network format (io/dlib.hpp); the network itself is test_dlib_face.
//   - the reader: a small network of every record kind reads back exactly; each file of the
//     malformed corpus (cuts at every record boundary, huge lengths, bad control bytes, wrong
//     versions, trailing bytes) gives one graft::Error naming the file and the offset, under a
//     3 GiB address-space limit;
//   - the real dlib_face_recognition_resnet_model_v1.dat: its records, counts and first bytes;
//   - graft-inspect lists a dlib file, and exits 1 with one line on a bad one.
// The model comes from cmake/fetch-dlib-model.sh ($GRAFT_DLIB_MODEL or graft's cache); the
// tests that need it, or libdlib-dev, skip with the reason when it is absent.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "graft/io/dlib.hpp"
#include "graft/nn/dlib_model_path.hpp"
#include "support/dlib_files.hpp"
#include "support/io_files.hpp"
#include "support/skip.hpp"

using namespace graft;

namespace {
std::string try_read(const std::string& bytes, const std::string& name) {
  io::MemorySource src(bytes.data(), bytes.size(), name);
  try {
    io::read_dlib(src);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

bool same_array(const io::Array& a, const io::Array& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

std::string model_or_skip() {
  const std::string m = nn::dlib_face_model_path();
  if (m.empty())
    GRAFT_SKIP("dlib_face_recognition_resnet_model_v1.dat not found (set GRAFT_DLIB_MODEL or run cmake/fetch-dlib-model.sh)");
  return m;
}
}  // namespace

TEST_CASE("a small dlib network of every record kind reads back as written", "[dlib]") {
  const io::DlibNet want = dlibtest::small_net();
  const dlibtest::File f = dlibtest::encode(want);
  const std::string bytes = f.bytes();
  io::MemorySource src(bytes.data(), bytes.size(), "small.dat");
  const io::DlibNet got = io::read_dlib(src);
  CHECK(got.file == "small.dat");
  CHECK(got.loss == "loss_metric_2");
  CHECK(got.margin == Approx(0.04).epsilon(1e-6));
  CHECK(got.dist_thresh == Approx(0.6).epsilon(1e-6));
  CHECK(got.input == want.input);
  CHECK(got.rows == 8);
  CHECK(got.cols == 8);
  for (int c = 0; c < 3; ++c) CHECK(got.mean[c] == want.mean[c]);  // float_details is exact
  CHECK(got.float_count == want.float_count);
  REQUIRE(got.layers.size() == want.layers.size());
  for (size_t i = 0; i < want.layers.size(); ++i) {
    INFO("record " << i);
    const io::DlibLayer &a = got.layers[i], &b = want.layers[i];
    CHECK(a.kind == b.kind);
    CHECK(a.version == b.version);
    CHECK(a.outputs == b.outputs);
    CHECK(a.inputs == b.inputs);
    CHECK(a.rows == b.rows);
    CHECK(a.stride_y == b.stride_y);
    CHECK(a.pad_x == b.pad_x);
    CHECK(a.bias == b.bias);
    CHECK(same_array(a.weights, b.weights));
    CHECK(same_array(a.biases, b.biases));
    const std::string label = "L" + std::to_string(i) + ".version";
    if (a.kind != io::DlibKind::tag) CHECK(a.offset == f.offset_of(label));
  }
  // A tag's record is where its wrapper int stands.
  CHECK(got.layers[4].offset == f.offset_of("wrapper.4"));
  // The sequence check names the first record that differs.
  std::vector<io::DlibKind> kinds = io::dlib_kinds(got);
  CHECK_NOTHROW(io::check_dlib_layers(got, kinds, "the small net"));
  kinds[5] = io::DlibKind::relu;
  CHECK_THROWS_WITH(io::check_dlib_layers(got, kinds, "the small net"),
                    Catch::Contains("small.dat: offset " + std::to_string(f.offset_of("L5.version")) +
                                    ": record 5 is con ('con_5'), but the small net has relu there"));
  kinds.pop_back();
  kinds[5] = io::DlibKind::con;
  CHECK_THROWS_WITH(io::check_dlib_layers(got, kinds, "the small net"), Catch::Contains("one more than the 11"));
}

TEST_CASE("dlib integers and scalars decode as dlib writes them", "[dlib]") {
  // Examples from the format's description: 1 = 01 01, 150 = 01 96, 256 = 02 00 01, -28 = 81 1c;
  // 1.0 (double) = 01 10 81 04, 0.0 = 01 00 01 0b, 0.04f = 03 0a d7 a3 81 1c.
  CHECK(dlibtest::integer(1) == std::string("\x01\x01", 2));
  CHECK(dlibtest::integer(150) == std::string("\x01\x96", 2));
  CHECK(dlibtest::integer(256) == std::string("\x02\x00\x01", 3));
  CHECK(dlibtest::integer(-28) == std::string("\x81\x1c", 2));
  CHECK(dlibtest::integer(0) == std::string("\x01\x00", 2));
  CHECK(dlibtest::scalar(1.0, 53) == std::string("\x01\x10\x81\x04", 4));
  CHECK(dlibtest::scalar(0.0, 53) == std::string("\x01\x00\x01\x0b", 4));
  CHECK(dlibtest::scalar(0.04f, 24) == std::string("\x03\x0a\xd7\xa3\x81\x1c", 6));
  // The reader takes those bytes back (a small net's margin and thresholds went through them).
  dlibtest::File f = dlibtest::encode(dlibtest::small_net());
  const std::string inf = f.with("loss.fields", dlibtest::scalar(INFINITY, 24) + dlibtest::scalar(-0.5, 24));
  io::MemorySource src(inf.data(), inf.size(), "inf.dat");
  const io::DlibNet n = io::read_dlib(src);
  CHECK(std::isinf(n.margin));
  CHECK(n.dist_thresh == -0.5);
}

TEST_CASE("each malformed or hostile dlib file gives one clear graft::Error", "[dlib]") {
  struct rlimit r;
  r.rlim_cur = r.rlim_max = rlim_t(3) << 30;  // a huge allocation would fail as std::bad_alloc
  REQUIRE(setrlimit(RLIMIT_AS, &r) == 0);
  const auto corpus = dlibtest::malformed();
  const size_t ok_size = dlibtest::encode(dlibtest::small_net()).bytes().size();
  size_t cuts = 0;
  for (const auto& b : corpus) {
    INFO(b.name << " (" << b.bytes.size() << " bytes)");
    const std::string msg = try_read(b.bytes, b.name);
    REQUIRE(!msg.empty());
    CHECK_THAT(msg, Catch::StartsWith(b.name + ": offset ") || Catch::StartsWith(b.name + ": "));
    CHECK_THAT(msg, Catch::Contains(b.expect));
    CHECK(msg.find('\n') == std::string::npos);
    if (b.name.compare(0, 4, "cut_") == 0) {
      ++cuts;
      CHECK_THAT(msg, Catch::StartsWith(b.name + ": offset "));
    }
  }
  CHECK(cuts > 100);  // every piece boundary of the small net
  // Every single-byte cut too, not only piece boundaries.
  const std::string ok = dlibtest::encode(dlibtest::small_net()).bytes();
  for (size_t n = 0; n < ok_size; ++n) {
    INFO("cut at " << n);
    CHECK_THAT(try_read(ok.substr(0, n), "cut.dat"), Catch::StartsWith("cut.dat: "));
  }
}

TEST_CASE("ReadLimits bound the wrappers and the arrays of a dlib file", "[dlib]") {
  const std::string ok = dlibtest::encode(dlibtest::small_net()).bytes();
  io::MemorySource src(ok.data(), ok.size(), "small.dat");
  io::ReadLimits few;
  few.max_layers = 4;
  CHECK_THROWS_WITH(io::read_dlib(src, few), Catch::Contains("more than 4 layer wrappers (ReadLimits::max_layers)"));
  io::ReadLimits small;
  small.max_array_bytes = 64;
  CHECK_THROWS_WITH(io::read_dlib(src, small), Catch::Contains("more than ReadLimits::max_array_bytes"));
  io::ReadLimits total;
  total.max_total_bytes = 300;
  CHECK_THROWS_WITH(io::read_dlib(src, total), Catch::Contains("ReadLimits::max_total_bytes"));
}

TEST_CASE("dlib's face ResNet file: its records, counts and first bytes", "[dlib]") {
  const std::string path = model_or_skip();
  const io::DlibNet n = io::read_dlib(path);
  CHECK(n.loss == "loss_metric_2");
  CHECK(n.margin == Approx(0.04).epsilon(1e-6));
  CHECK(n.dist_thresh == Approx(0.6).epsilon(1e-6));
  CHECK(n.input == "input_rgb_image_sized");
  CHECK(n.rows == 150);
  CHECK(n.cols == 150);
  CHECK(n.mean[0] == Approx(122.782).epsilon(1e-6));
  CHECK(n.mean[1] == Approx(117.001).epsilon(1e-6));
  CHECK(n.mean[2] == Approx(104.298).epsilon(1e-6));
  CHECK(n.layers.size() == 130);
  CHECK(n.float_count == 5614592);
  size_t count[8] = {};
  for (const auto& l : n.layers) ++count[int(l.kind)];
  CHECK(count[int(io::DlibKind::con)] == 29);
  CHECK(count[int(io::DlibKind::affine)] == 29);
  CHECK(count[int(io::DlibKind::relu)] == 29);
  CHECK(count[int(io::DlibKind::add_prev)] == 14);
  CHECK(count[int(io::DlibKind::avg_pool)] == 5);
  CHECK(count[int(io::DlibKind::max_pool)] == 1);
  CHECK(count[int(io::DlibKind::fc)] == 1);
  CHECK(count[int(io::DlibKind::tag)] == 22);
  // The first record: the 7x7/2 stem conv at offset 0x14e, its first weight -0.02933.
  CHECK(n.layers[0].offset == 0x14e);
  CHECK(n.layers[0].version == "con_4");
  CHECK(n.layers[0].weights.shape() == (Shape{32, 3, 7, 7}));
  CHECK(reinterpret_cast<const float*>(n.layers[0].weights.data())[0] == Approx(-0.02933).margin(1e-5));
  CHECK(n.layers.back().version == "fc_2");
  CHECK(n.layers.back().weights.shape() == (Shape{256, 128}));
  CHECK(!n.layers.back().bias);
}

namespace {
struct Run {
  int rc;
  std::string out, err;
};
Run inspect(const iotest::TempDir& tmp, const std::string& args) {
  const std::string exe = GRAFT_INSPECT;
  if (exe.empty()) GRAFT_SKIP("graft-inspect is not built (GRAFT_BUILD_EXAMPLES=OFF)");
  const std::string out = tmp.path("stdout.txt"), err = tmp.path("stderr.txt");
  const int rc = std::system((iotest::shell_quote(exe) + " " + args + " > " + iotest::shell_quote(out) + " 2> " +
                              iotest::shell_quote(err))
                                 .c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, iotest::read_bytes(out), iotest::read_bytes(err)};
}
}  // namespace

TEST_CASE("graft-inspect lists a dlib network's records and arrays", "[dlib]") {
  iotest::TempDir tmp;
  const std::string path = tmp.path("small.dat");
  dlibtest::write_file(path, dlibtest::encode(dlibtest::small_net()).bytes());
  const Run r = inspect(tmp, iotest::shell_quote(path));
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("dlib network, loss 'loss_metric_2'"));
  CHECK_THAT(r.out, Catch::Contains("12 records"));
  CHECK_THAT(r.out, Catch::Contains("input 'input_rgb_image_sized': 8 x 8"));
  CHECK_THAT(r.out, Catch::Contains("con_5"));
  CHECK_THAT(r.out, Catch::Contains("3 from 2, 3x3 stride 1 pad 1, no bias"));
  CHECK_THAT(r.out, Catch::Contains("whole input"));
  CHECK_THAT(r.out, Catch::Contains("000_con/weights"));
  CHECK_THAT(r.out, Catch::Contains("(2, 3, 3, 3)"));
  CHECK_THAT(r.out, Catch::Contains("011_fc/weights"));
  const Run j = inspect(tmp, iotest::shell_quote(path) + " --json");
  REQUIRE(j.rc == 0);
  CHECK_THAT(j.out, Catch::Contains("\"format\": \"dlib\""));
  CHECK_THAT(j.out, Catch::Contains("{\"kind\": \"tag/skip\", \"version\": \"\""));
  CHECK_THAT(j.out, Catch::Contains("\"name\": \"006_affine/gamma\", \"dtype\": \"float32\", \"shape\": [3]"));
  // A bad file: status 1, one line naming the file and the offset.
  const std::string bad = tmp.path("bad.dat");
  dlibtest::write_file(bad, dlibtest::encode(dlibtest::small_net()).bytes() + "zz");
  const Run b = inspect(tmp, iotest::shell_quote(bad));
  CHECK(b.rc == 1);
  CHECK_THAT(b.err, Catch::StartsWith("graft-inspect: " + bad + ": offset "));
  CHECK_THAT(b.err, Catch::Contains("2 bytes follow the last record"));
  CHECK(std::count(b.err.begin(), b.err.end(), '\n') == 1);
}

TEST_CASE("graft-inspect lists dlib's face ResNet", "[dlib]") {
  const std::string model = model_or_skip();
  iotest::TempDir tmp;
  const Run r = inspect(tmp, iotest::shell_quote(model));
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("130 records, 5614592 floats"));
  CHECK_THAT(r.out, Catch::Contains("input 'input_rgb_image_sized': 150 x 150, means R 122.782"));
  CHECK_THAT(r.out, Catch::Contains("129_fc/weights"));
  CHECK_THAT(r.out, Catch::Contains("(256, 128)"));
}
