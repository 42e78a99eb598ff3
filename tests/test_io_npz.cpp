// [io] NPZ: NumPy's archives (stored, deflated, with data descriptors, zip64) are read
// exactly with NumPy's keys in NumPy's order; graft's archives are read back by NumPy.
#include <catch2/catch.hpp>

#include <map>

#include "graft/io/npz.hpp"
#include "graft/io/weights.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;
using iotest::NumpyRef;

namespace {
std::string bytes_of(const Array& a) { return std::string(reinterpret_cast<const char*>(a.data()), a.nbytes()); }

Array pattern(DType t, const Shape& s, int seed) {
  Array a(t, s);
  for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] = static_cast<uint8_t>((i * 37 + size_t(seed) * 11 + 3) & 0xff);
  if (t == DType::b1)
    for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] &= 1;
  return a;
}
}  // namespace

TEST_CASE("NPZ archives NumPy writes are read exactly, with NumPy's keys and order", "[io]") {
  NumpyRef ref;
  ref.make("npz", "npz");
  const auto want = ref.manifest("npz");
  // Group the manifest by archive, keeping NumPy's order.
  std::vector<std::string> files;
  std::map<std::string, std::vector<const iotest::RefArray*>> by_file;
  for (const auto& w : want) {
    if (!by_file.count(w.file)) files.push_back(w.file);
    by_file[w.file].push_back(&w);
  }
  REQUIRE(files.size() == 4);  // stored, deflated, data descriptors, zip64
  for (const auto& file : files) {
    INFO(file);
    const auto got = read_npz(file);
    const auto& expected = by_file[file];
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO(expected[i]->name);
      CHECK(got[i].name == expected[i]->name);  // "arr_0", "conv1/weights", non-ASCII keys
      CHECK(dtype_name(got[i].array.dtype()) == expected[i]->dtype);
      CHECK(got[i].array.shape() == expected[i]->shape);
      CHECK(bytes_of(got[i].array) == expected[i]->bytes);
    }
  }
  CHECK(read_npz(ref.path("npz/empty.npz")).empty());
}

TEST_CASE("NumPy reads back graft's NPZ archives, stored and deflated", "[io]") {
  NumpyRef ref;
  iotest::WrittenList list(ref);
  std::vector<NamedArray> arrays;
  arrays.push_back({"a", pattern(DType::f4, Shape{3, 4}, 1)});
  arrays.push_back({"conv1/weights", pattern(DType::f8, Shape{2, 3, 2, 2}, 2)});
  arrays.push_back({"scalar", pattern(DType::i8, Shape{}, 3)});
  arrays.push_back({"empty", pattern(DType::u2, Shape{0, 4}, 4)});
  arrays.push_back({"flags", pattern(DType::b1, Shape{9}, 5)});
  arrays.push_back({"caf\xc3\xa9", pattern(DType::i1, Shape{6}, 6)});  // "café": a UTF-8 name
  Array big(DType::f4, Shape{300, 300});  // large and compressible: deflate must pay off
  for (int64_t i = 0; i < big.size(); ++i) {
    const float v = float(i % 17);
    std::memcpy(big.data() + 4 * i, &v, 4);
  }
  arrays.push_back({"big", std::move(big)});
  for (auto c : {Compression::stored, Compression::deflated}) {
    const std::string file = c == Compression::stored ? "s.npz" : "d.npz";
    write_npz(ref.path(file), arrays, c);
    for (const auto& a : arrays) list.add("npz", file, a.name, a.array);
    const auto back = read_npz(ref.path(file));
    REQUIRE(back.size() == arrays.size());
    for (size_t i = 0; i < back.size(); ++i) {
      CHECK(back[i].name == arrays[i].name);
      CHECK(bytes_of(back[i].array) == bytes_of(arrays[i].array));
    }
  }
  CHECK(iotest::read_bytes(ref.path("d.npz")).size() * 4 < iotest::read_bytes(ref.path("s.npz")).size());
  CHECK(list.check());
}

TEST_CASE("NpzWriter refuses bad names and leaves nothing without close()", "[io]") {
  iotest::TempDir tmp;
  {
    NpzWriter w(tmp.path("x.npz"));
    w.add("a", Array(DType::f4, Shape{2}));
    CHECK_THROWS_WITH(w.add("a", Array(DType::f4, Shape{2})), Catch::Contains("used twice"));
    CHECK_THROWS_WITH(w.add("", Array(DType::f4, Shape{2})), Catch::Contains("bad array name"));
    CHECK_THROWS_WITH(w.add(std::string("a\0b", 3), Array(DType::f4, Shape{2})), Catch::Contains("bad array name"));
  }
  CHECK_FALSE(std::filesystem::exists(tmp.path("x.npz")));
  CHECK(std::filesystem::is_empty(tmp.dir()));
}

TEST_CASE("an .npz of layer/param arrays is a weights dict", "[io]") {
  iotest::TempDir tmp;
  std::vector<NamedArray> arrays;
  arrays.push_back({"conv1/weights", pattern(DType::f4, Shape{3, 3, 3, 8}, 1)});
  arrays.push_back({"conv1/biases", pattern(DType::f4, Shape{8}, 2)});
  arrays.push_back({"scope/fc6/weights", pattern(DType::f4, Shape{12, 4}, 3)});  // split at the last '/'
  write_npz(tmp.path("w.npz"), arrays, Compression::deflated);
  const WeightsDict w = read_weights(tmp.path("w.npz"));
  REQUIRE(w.layers().size() == 2);
  CHECK(w.layers()[0].name == "conv1");
  CHECK(w.layers()[1].name == "scope/fc6");
  CHECK(bytes_of(w.at("conv1", "biases")) == bytes_of(arrays[1].array));
  CHECK(bytes_of(w.at("scope/fc6", "weights")) == bytes_of(arrays[2].array));

  write_npz(tmp.path("plain.npz"), {{"a", pattern(DType::f4, Shape{2}, 4)}});
  CHECK_THROWS_WITH(read_weights(tmp.path("plain.npz")), Catch::Contains("not named layer/param"));
}
