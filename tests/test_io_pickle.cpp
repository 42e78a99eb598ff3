// [io] caffe-tensorflow weights dicts: Python 2 (protocol 2, BINSTRING), np.save (protocol
// 3), protocol 4 and the old list form are read exactly; the real converter output
// det{1,2,3}.npy matches NumPy; graft's dict files are read back by NumPy.
#include <catch2/catch.hpp>

#include <map>

#include "graft/io/weights.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;
using iotest::NumpyRef;

namespace {
std::string bytes_of(const Array& a) { return std::string(reinterpret_cast<const char*>(a.data()), a.nbytes()); }

// Checks read_weights(file) against the manifest lines of that file, in order.
void expect_dict(const std::string& file, const std::vector<const iotest::RefArray*>& want) {
  INFO(file);
  const WeightsDict w = read_weights(file);
  std::vector<std::pair<std::string, const Array*>> got;
  for (const auto& l : w.layers())
    for (const auto& p : l.params) got.push_back({l.name + "/" + p.name, &p.array});
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(want[i]->name);
    CHECK(got[i].first == want[i]->name);  // names and order as NumPy gives them
    CHECK(dtype_name(got[i].second->dtype()) == want[i]->dtype);
    CHECK(got[i].second->shape() == want[i]->shape);
    CHECK(bytes_of(*got[i].second) == want[i]->bytes);
  }
  // read_arrays (what graft-inspect lists) agrees with read_weights.
  const auto flat = read_arrays(file);
  REQUIRE(flat.size() == want.size());
  for (size_t i = 0; i < flat.size(); ++i) CHECK(flat[i].name == want[i]->name);
}

std::map<std::string, std::vector<const iotest::RefArray*>> by_file(const std::vector<iotest::RefArray>& all) {
  std::map<std::string, std::vector<const iotest::RefArray*>> m;
  for (const auto& a : all) m[a.file].push_back(&a);
  return m;
}
}  // namespace

TEST_CASE("caffe-tensorflow dicts of protocols 2, 3 and 4 are read exactly", "[io]") {
  NumpyRef ref;
  ref.make("dicts", "dicts");
  const auto all = ref.manifest("dicts");
  const auto files = by_file(all);
  REQUIRE(files.size() == 4);
  for (const auto& f : files) expect_dict(f.first, f.second);
  // The Python 2 file's parameter names were bytes (BINSTRING); its layer names unicode.
  const std::string p2 = iotest::read_bytes(ref.path("dicts/p2.npy"));
  CHECK(p2.find(std::string("U\x07weights", 9)) != std::string::npos);
  CHECK(p2.find(std::string("T\xb0\x01\x00\x00", 5)) != std::string::npos);  // conv1 weights: 432 bytes as BINSTRING
  CHECK(p2.find(std::string("B\xb0\x01\x00\x00", 5)) == std::string::npos);  // not BINBYTES
  const WeightsDict w = read_weights(ref.path("dicts/p3.npy"));
  CHECK(w.find("conv_\xc3\xa9"));  // "conv_é", UTF-8
  CHECK(w.at("fc6", "weights").dtype() == DType::f8);
  const Tensor<float> t = w.tensor<float>("conv1", "weights");  // converted on request
  CHECK(t.shape() == Shape({3, 3, 3, 4}));
}

TEST_CASE("a protocol 5 pickle is refused, naming the global it asks for", "[io]") {
  NumpyRef ref;
  ref.make("dicts", "dicts");
  const std::string p5 = ref.path("dicts/p5.npy");
  CHECK_THROWS_WITH(read_weights(p5), Catch::Contains(p5) && Catch::Contains("refusing global 'numpy.core.numeric._frombuffer'") &&
                                          Catch::Contains("offset"));
}

TEST_CASE("the real det1/det2/det3.npy (Python 2 caffe-tensorflow output) match NumPy", "[io]") {
  const std::string data = iotest::caffe_tf_dir();
  if (data.empty()) GRAFT_SKIP("no caffe-tensorflow/det{1,2,3}.npy in the data folder (set GRAFT_DATA or provide ../shared/data)");
  NumpyRef ref;
  ref.make("real", "real", iotest::shell_quote(data));
  const auto all = ref.manifest("real");
  const auto files = by_file(all);
  REQUIRE(files.size() == 3);
  size_t arrays = 0;
  for (const auto& f : files) {
    expect_dict(f.first, f.second);
    arrays += f.second.size();
  }
  CHECK(arrays == 50);
  const WeightsDict det1 = read_weights(data + "/det1.npy");
  CHECK(det1.at("conv1", "weights").shape() == Shape({3, 3, 3, 10}));  // HWIO, as the file holds it
  CHECK(det1.at("PReLU1", "alpha").shape() == Shape({10}));
}

TEST_CASE("NumPy reads graft's caffe-tensorflow dicts with np.load(...).item()", "[io]") {
  NumpyRef ref;
  iotest::WrittenList list(ref);
  WeightsDict w;
  auto fill = [](Array a, int seed) {
    for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] = static_cast<uint8_t>((i * 29 + size_t(seed)) & 0xff);
    return a;
  };
  w.add("conv1_1", "weights", fill(Array(DType::f4, Shape{3, 3, 3, 64}), 1));
  w.add("conv1_1", "biases", fill(Array(DType::f4, Shape{64}), 2));
  w.add("fc6", "weights", fill(Array(DType::f8, Shape{300, 7}), 3));  // > 255 bytes: BINBYTES
  w.add("fc6", "biases", fill(Array(DType::f8, Shape{7}), 4));
  w.add("caf\xc3\xa9", "alpha", fill(Array(DType::i2, Shape{}), 5));
  w.add("empty", "e", Array(DType::u1, Shape{0, 2}));
  w.add_layer("no_params");
  write_weights(ref.path("w.npy"), w);
  for (const auto& l : w.layers())
    for (const auto& p : l.params) list.add("dict", "w.npy", l.name + "/" + p.name, p.array);
  CHECK(list.check());
  // And graft reads it back identically, empty layer included.
  const WeightsDict back = read_weights(ref.path("w.npy"));
  REQUIRE(back.layers().size() == w.layers().size());
  for (size_t i = 0; i < w.layers().size(); ++i) {
    CHECK(back.layers()[i].name == w.layers()[i].name);
    REQUIRE(back.layers()[i].params.size() == w.layers()[i].params.size());
    for (size_t k = 0; k < w.layers()[i].params.size(); ++k)
      CHECK(bytes_of(back.layers()[i].params[k].array) == bytes_of(w.layers()[i].params[k].array));
  }
  // write_weights picks .npz by extension.
  write_weights(ref.path("w.npz"), w);
  CHECK(read_npz(ref.path("w.npz")).size() == w.array_count());
}
