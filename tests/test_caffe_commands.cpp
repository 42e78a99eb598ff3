// [caffe] The commands: graft-convert's .npy and .npz equal caffe-tensorflow's layout, as NumPy
// computes it from protobuf's reading of the model, for the real V2 LeNet and a V1 VGG-like
// model; graft-inspect lists a caffemodel's layers and blobs as protobuf reads them; bad
// input exits 1 with one line, a bad command line 2. graft-predict runs a residual Caffe model
// from its prototxt and gives PyTorch's probabilities.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "graft/io/weights.hpp"
#include "support/caffe_ref.hpp"
#include "support/image_files.hpp"

using namespace graft;
using caffetest::CaffeRef;
using caffetest::shell_quote;

namespace {
const std::string kConvert = GRAFT_CONVERT, kInspect = GRAFT_INSPECT, kPredict = GRAFT_PREDICT;

struct Run {
  int rc;
  std::string out, err;
};

Run run(const iotest::TempDir& tmp, const std::string& exe, const std::string& args) {
  if (exe.empty()) GRAFT_SKIP("the commands are not built (GRAFT_BUILD_EXAMPLES=OFF)");
  const std::string out = tmp.path("stdout.txt"), err = tmp.path("stderr.txt");
  const int rc = std::system((shell_quote(exe) + " " + args + " > " + shell_quote(out) + " 2> " + shell_quote(err)).c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, caffetest::read_file(out), caffetest::read_file(err)};
}

// graft-convert to .npy and .npz, then NumPy's verdict.
void convert_and_check(const CaffeRef& ref, const std::string& model, const std::string& prototxt,
                       const std::string& arch, const std::string& stem) {
  const std::string npy = ref.path(stem + ".npy"), npz = ref.path(stem + ".npz");
  const Run a = run(ref, kConvert, shell_quote(model) + " --prototxt " + shell_quote(prototxt) + " -o " + shell_quote(npy));
  INFO(a.err);
  REQUIRE(a.rc == 0);
  CHECK(a.out.find("wrote " + npy) != std::string::npos);
  const Run b = run(ref, kConvert, "--prototxt " + shell_quote(prototxt) + " " + shell_quote(model) + " --output " +
                                       shell_quote(npz) + " --compress -q");
  INFO(b.err);
  REQUIRE(b.rc == 0);
  CHECK(b.out.empty());
  CHECK(ref.check_convert(model, arch, npy, npz));
}

std::string json_number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

TEST_CASE("graft-convert: the real V2 LeNet, as caffe-tensorflow lays it out", "[caffe]") {
  GRAFT_NEED_LENET(dir);
  CaffeRef ref;
  convert_and_check(ref, dir + "/lenet_iter_10000.caffemodel", dir + "/lenet.prototxt", caffetest::lenet_arch(), "lenet");
}

TEST_CASE("graft-convert: a V1 VGG-like model, as caffe-tensorflow lays it out", "[caffe]") {
  CaffeRef ref;
  const std::string arch = caffetest::vgg_arch(1, false);
  const std::string d = ref.write("v1", arch);
  convert_and_check(ref, d + "/net.caffemodel", d + "/net.prototxt", arch, "vgg");
  // graft reads back what it wrote.
  const io::WeightsDict w = io::read_weights(ref.path("vgg.npy"));
  CHECK(w.array_count() == 12);
  CHECK(w.at("fc6", "weights").shape() == Shape({150, 7}));
}

TEST_CASE("graft-convert: errors and the command line", "[caffe]") {
  CaffeRef ref;
  const std::string d = ref.write("v1", caffetest::vgg_arch(1));
  const std::string model = d + "/net.caffemodel", proto = d + "/net.prototxt";
  const std::string ok_args = shell_quote(model) + " --prototxt " + shell_quote(proto) + " -o ";
  CHECK(run(ref, kConvert, "").rc == 2);
  CHECK(run(ref, kConvert, shell_quote(model) + " -o x.npy").rc == 2);
  CHECK(run(ref, kConvert, ok_args + shell_quote(ref.path("x.txt"))).rc == 2);
  CHECK(run(ref, kConvert, ok_args + shell_quote(ref.path("x.npy")) + " --compress").rc == 2);
  CHECK(run(ref, kConvert, ok_args + shell_quote(ref.path("x.npy")) + " --bogus").rc == 2);
  CHECK(run(ref, kConvert, "--help").rc == 0);
  // A truncated model, a prototxt for another net, and the two files swapped: exit 1, one line, no file.
  const std::string cut = ref.path("cut.caffemodel");
  const std::string bytes = caffetest::read_file(model);
  caffetest::write_file(cut, bytes.substr(0, bytes.size() - 10));
  std::string other = caffetest::read_file(proto);
  other.replace(other.find("num_output: 7"), 13, "num_output: 8");
  caffetest::write_file(ref.path("other.prototxt"), other);
  struct Bad {
    std::string args, expect;
  };
  const Bad bads[] = {
      {shell_quote(cut) + " --prototxt " + shell_quote(proto), "graft-convert: " + cut + ": offset "},
      {shell_quote(model) + " --prototxt " + shell_quote(ref.path("other.prototxt")), "has shape (1, 1, 7, 150), but "},
      {shell_quote(proto) + " --prototxt " + shell_quote(model), "is it the .caffemodel rather than the .prototxt?"},
      {shell_quote(proto) + " --prototxt " + shell_quote(proto), "not a binary .caffemodel; is it the .prototxt?"},
      {shell_quote(ref.path("missing.caffemodel")) + " --prototxt " + shell_quote(proto), "cannot open"},
  };
  for (const Bad& b : bads) {
    INFO(b.args);
    const Run r = run(ref, kConvert, b.args + " -o " + shell_quote(ref.path("bad.npy")));
    INFO(r.err);
    CHECK(r.rc == 1);
    CHECK(r.err.find(b.expect) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(ref.path("bad.npy")));
  }
}

TEST_CASE("graft-inspect lists a caffemodel's layers and blobs as protobuf reads them", "[caffe]") {
  CaffeRef ref;
  const std::string d = ref.write("v1", caffetest::vgg_arch(1));
  std::vector<std::string> models = {d + "/net.caffemodel"};
  const std::string lenet = caffetest::lenet_dir();
  if (!lenet.empty()) models.push_back(lenet + "/lenet_iter_10000.caffemodel");
  for (const std::string& model : models) {
    INFO(model);
    std::vector<CaffeRef::LayerRow> layers;
    std::vector<CaffeRef::Blob> blobs;
    ref.read(model, layers, blobs);
    const Run j = run(ref, kInspect, shell_quote(model) + " --json");
    INFO(j.err);
    REQUIRE(j.rc == 0);
    for (const auto& l : layers) {
      std::string want = "{\"name\": \"" + l.name + "\", \"type\": \"" + l.type + "\", \"blobs\": " + std::to_string(l.blobs) + "}";
      INFO(want);
      CHECK(j.out.find(want) != std::string::npos);
    }
    for (const auto& b : blobs) {
      // Name, dtype, shape and the exact extremes of the values protobuf read.
      std::string shape;
      for (int i = 0; i < b.shape.rank(); ++i) shape += (i ? ", " : "") + std::to_string(b.shape[i]);
      REQUIRE(b.dtype == "float32");
      const float* v = reinterpret_cast<const float*>(b.bytes.data());
      const size_t n = b.bytes.size() / 4;
      const double lo = *std::min_element(v, v + n), hi = *std::max_element(v, v + n);
      const std::string want = "{\"name\": \"" + b.layer + "/" + std::to_string(b.index) + "\", \"dtype\": \"float32\", \"shape\": [" +
                               shape + "], \"min\": " + json_number(lo) + ", \"max\": " + json_number(hi) + ", \"mean\": ";
      INFO(want);
      CHECK(j.out.find(want) != std::string::npos);
    }
    const Run t = run(ref, kInspect, shell_quote(model));
    REQUIRE(t.rc == 0);
    CHECK(t.out.find(std::to_string(layers.size()) + " layers, " + std::to_string(blobs.size()) + " blobs") != std::string::npos);
  }
  // A truncated caffemodel: exit 1, one line naming it.
  const std::string bytes = caffetest::read_file(d + "/net.caffemodel");
  caffetest::write_file(ref.path("cut.caffemodel"), bytes.substr(0, 100));
  const Run bad = run(ref, kInspect, shell_quote(ref.path("cut.caffemodel")));
  CHECK(bad.rc == 1);
  CHECK(bad.err.rfind("graft-inspect: " + ref.path("cut.caffemodel") + ": offset ", 0) == 0);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
}

TEST_CASE("graft-predict: a residual V2 Caffe model from its prototxt gives PyTorch's probabilities", "[caffe][torch]") {
  CaffeRef ref(true);
  const std::string arch = caffetest::residual_arch(2, 9);
  const std::string d = ref.write("res", arch);
  const std::string model = d + "/net.caffemodel", proto = d + "/net.prototxt";
  // Two 12x12 images, the prototxt's input size (used as they are); --norm unit makes the
  // input RGB / 255, which the reference gets as x.bin.
  const int side = 12;
  std::vector<float> x;
  std::string files;
  for (int i = 0; i < 2; ++i) {
    const data::Image img = test::random_image(side, side, 40 + uint64_t(i));
    const std::string f = ref.path("img" + std::to_string(i) + ".png");
    test::write_png(f, img);
    files += " " + shell_quote(f);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < side; ++y)
        for (int xx = 0; xx < side; ++xx) x.push_back(float(img.rgb[size_t((y * side + xx) * 3 + c)]) / 255.0f);
  }
  caffetest::write_file(ref.path("x.bin"), std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4));
  ref.make("forward " + shell_quote(model) + " " + shell_quote(arch) + " " + shell_quote(ref.dir()));
  const std::string pb = caffetest::read_file(ref.path("p.bin"));
  REQUIRE(pb.size() == 2 * 5 * 4);
  const float* want = reinterpret_cast<const float*>(pb.data());

  const Run r = run(ref, kPredict, "--weights " + shell_quote(model) + " --prototxt " + shell_quote(proto) + " --norm unit --json" + files);
  INFO(r.err);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  // The probabilities of each file, in order: printed with 10 significant digits.
  size_t at = 0;
  for (int i = 0; i < 2; ++i) {
    at = r.out.find("\"probabilities\": [", at);
    REQUIRE(at != std::string::npos);
    at += 18;
    for (int k = 0; k < 5; ++k) {
      size_t used = 0;
      const double got = std::stod(r.out.substr(at), &used);
      at += used;
      if (r.out.compare(at, 2, ", ") == 0) at += 2;
      INFO("image " << i << " class " << k);
      CHECK(got == Approx(double(want[i * 5 + k])).epsilon(1e-4));  // float32 against PyTorch's float64
    }
  }
  // Classes given must match the network's outputs.
  const Run bad = run(ref, kPredict, "--weights " + shell_quote(model) + " --prototxt " + shell_quote(proto) + " --classes a,b" + files);
  CHECK(bad.rc == 2);
  CHECK(bad.err.find("--classes lists 2 names, but the network of " + proto + " has 5 outputs") != std::string::npos);
}
