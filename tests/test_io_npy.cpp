// [io] NPY: every form NumPy writes is read exactly; graft's files are read back by NumPy;
// dtype conversions keep values or refuse.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "graft/io/npy.hpp"
#include "graft/io/weights.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;
using iotest::NumpyRef;

namespace {
std::string bytes_of(const Array& a) { return std::string(reinterpret_cast<const char*>(a.data()), a.nbytes()); }

// An NPY v1.0 file with the given header text (padded as NumPy does) and data bytes.
std::string npy_with_header(const std::string& dict, const std::string& data) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

Array read_npy_bytes(const std::string& bytes, const std::string& name = "mem.npy") {
  MemorySource src(bytes.data(), bytes.size(), name);
  RangeInput in(src);
  return read_npy(in);
}
}  // namespace

TEST_CASE("NPY files NumPy writes in every form are read exactly", "[io]") {
  NumpyRef ref;
  ref.make("npy", "npy");
  const auto arrays = ref.manifest("npy");
  REQUIRE(arrays.size() > 600);
  size_t big_endian_or_fortran = 0;
  for (const auto& want : arrays) {
    INFO(want.file << ": " << want.dtype << " " << want.shape.str());
    const Array got = read_npy(want.file);
    CHECK(dtype_name(got.dtype()) == want.dtype);
    CHECK(got.shape() == want.shape);
    CHECK(bytes_of(got) == want.bytes);  // bit for bit: NaN payloads, -0.0 and subnormals too
    const std::string head = iotest::read_bytes(want.file).substr(0, 160);
    if (head.find("'>") != std::string::npos || head.find("True") != std::string::npos) ++big_endian_or_fortran;
  }
  CHECK(big_endian_or_fortran > 200);  // the matrix really exercised swapping and reordering
}

TEST_CASE("NumPy reads back graft's NPY files exactly", "[io]") {
  NumpyRef ref;
  iotest::WrittenList list(ref);
  const Shape shapes[] = {Shape{}, Shape{0}, Shape{5}, Shape{3, 4}, Shape{2, 3, 1, 2}, Shape{4, 0, 2}};
  const DType types[] = {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4,
                         DType::u4, DType::i8, DType::u8, DType::f2, DType::f4, DType::f8};
  int k = 0;
  for (DType t : types)
    for (const Shape& s : shapes) {
      Array a(t, s);
      for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] = static_cast<uint8_t>((i * 131 + k * 7 + 1) & 0xff);
      if (t == DType::b1)
        for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] &= 1;
      const std::string file = "w" + std::to_string(++k) + ".npy";
      write_npy(ref.path(file), a);
      list.add("npy", file, "", a);
      // graft reads its own file back too.
      const Array back = read_npy(ref.path(file));
      CHECK(back.dtype() == t);
      CHECK(back.shape() == s);
      CHECK(bytes_of(back) == bytes_of(a));
    }
  Tensor<float> t(Shape{2, 3});
  for (int64_t i = 0; i < t.size(); ++i) t[i] = 0.5f * float(i) - 1.0f;
  write_npy(ref.path("tensor.npy"), t);
  list.add("npy", "tensor.npy", "", Array::from_tensor(t));
  CHECK(list.check());
}

TEST_CASE("NPY prefix is what NumPy writes: version 1.0, 64-byte aligned, newline-terminated", "[io]") {
  for (const Shape& s : {Shape{}, Shape{7}, Shape{2, 3, 4}}) {
    const std::string p = npy_prefix("<f4", s);
    CHECK(p.size() % 64 == 0);
    CHECK(p.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    CHECK(p.back() == '\n');
    CHECK(p.find("{'descr': '<f4', 'fortran_order': False, 'shape': " + s.str() + ", }") == 10);
  }
  // A header beyond 65535 bytes needs version 2.0 (a very long descr stands in for one).
  const std::string big = npy_prefix(std::string(70000, 'x'), Shape{1});
  CHECK(big[6] == 2);
  CHECK(big.size() % 64 == 0);
}

TEST_CASE("NPY headers as other writers spell them", "[io]") {
  const std::string data("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x00\x00\xc0\x40", 24);
  // Python 2 longs, double quotes, other key order, no trailing comma, newlines inside.
  for (const std::string& dict :
       {std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"),
        std::string("{\"shape\": (2, 3), \"descr\": \"<f4\", \"fortran_order\": False}"),
        std::string("{'fortran_order':False,'shape':(2,3),'descr':'<f4'}"),
        std::string("{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2, 3)}")}) {
    INFO(dict);
    const Array a = read_npy_bytes(npy_with_header(dict, data));
    REQUIRE(a.shape() == Shape({2, 3}));
    for (int i = 0; i < 6; ++i) CHECK(a.value(i) == double(i + 1));
  }
  // Fortran order: element (r, c) is stored at c * rows + r.
  const Array f = read_npy_bytes(npy_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data));
  const double want[6] = {1, 3, 5, 2, 4, 6};
  for (int i = 0; i < 6; ++i) CHECK(f.value(i) == want[i]);
}

TEST_CASE("float16 values convert exactly", "[io]") {
  struct Case { uint16_t bits; float value; };
  const Case cases[] = {{0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f}, {0x0001, std::ldexp(1.0f, -24)},
                        {0x03ff, std::ldexp(1023.0f, -24)}, {0x0400, std::ldexp(1.0f, -14)}, {0x3555, 0.333251953125f}};
  for (const auto& c : cases) CHECK(half_to_float(c.bits) == c.value);
  CHECK(std::isinf(half_to_float(0x7c00)));
  CHECK(half_to_float(0xfc00) < 0);
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(std::signbit(half_to_float(0x8000)));
}

TEST_CASE("to_tensor: exact type by default, conversion on request, lossy values refused", "[io]") {
  Array d(DType::f8, Shape{3});
  const double dv[3] = {0.1, -2.5, 1e30};
  std::memcpy(d.data(), dv, sizeof dv);
  CHECK_THROWS_WITH(d.to_tensor<float>(Cast::exact, "x"), Catch::Contains("holds float64, expected float32"));
  const Tensor<float> f = d.to_tensor<float>(Cast::convert);
  CHECK(f[0] == 0.1f);  // rounded to nearest, as NumPy's astype
  CHECK(f[1] == -2.5f);
  CHECK(f[2] == 1e30f);
  const Tensor<double> same = d.to_tensor<double>();
  CHECK(same[0] == 0.1);

  Array huge(DType::f8, Shape{2});
  const double hv[2] = {1.0, 1e300};
  std::memcpy(huge.data(), hv, sizeof hv);
  CHECK_THROWS_WITH(huge.to_tensor<float>(Cast::convert, "big"), Catch::Contains("element 1") && Catch::Contains("float32"));

  Array i16(DType::i2, Shape{3});
  const int16_t iv[3] = {7, 300, -1};
  std::memcpy(i16.data(), iv, sizeof iv);
  CHECK_THROWS_WITH(i16.to_tensor<uint8_t>(Cast::convert, "i"), Catch::Contains("element 1"));
  const Tensor<int32_t> wide = i16.to_tensor<int32_t>(Cast::convert);
  CHECK((wide[0] == 7 && wide[1] == 300 && wide[2] == -1));
  const Tensor<float> fl = i16.to_tensor<float>(Cast::convert);
  CHECK(fl[2] == -1.0f);

  Array frac(DType::f4, Shape{2});
  const float fv[2] = {3.0f, 2.5f};
  std::memcpy(frac.data(), fv, sizeof fv);
  CHECK_THROWS_WITH(frac.to_tensor<int32_t>(Cast::convert, "frac"), Catch::Contains("element 1 (2.5)"));

  Array u64(DType::u8, Shape{1});
  const uint64_t big = ~uint64_t(0);
  std::memcpy(u64.data(), &big, 8);
  CHECK_THROWS(u64.to_tensor<int64_t>(Cast::convert));
  CHECK(u64.to_tensor<uint64_t>()[0] == big);

  Array b(DType::b1, Shape{3});
  b.data()[1] = 1;
  b.data()[2] = 5;  // any nonzero byte is True, as NumPy reads it
  const Tensor<float> bf = b.to_tensor<float>(Cast::convert);
  CHECK((bf[0] == 0.0f && bf[1] == 1.0f && bf[2] == 1.0f));
}

TEST_CASE("read_npy_tensor converts on request", "[io]") {
  iotest::TempDir tmp;
  Tensor<double> t(Shape{2, 2});
  for (int64_t i = 0; i < 4; ++i) t[i] = 0.25 * double(i);
  write_npy(tmp.path("d.npy"), t);
  CHECK_THROWS_WITH(read_npy_tensor<float>(tmp.path("d.npy")), Catch::Contains(tmp.path("d.npy")));
  const Tensor<float> f = read_npy_tensor<float>(tmp.path("d.npy"), Cast::convert);
  REQUIRE(f.shape() == Shape({2, 2}));
  for (int64_t i = 0; i < 4; ++i) CHECK(f[i] == 0.25f * float(i));
}

TEST_CASE("writes replace a file only when complete", "[io]") {
  iotest::TempDir tmp;
  const std::string p = tmp.path("x.npy");
  iotest::write_bytes(p, "old contents");
  {
    AtomicFile f(p);
    f.write("partial", 7);
    // destroyed without commit(): the old file stays, the temporary one is gone
  }
  CHECK(iotest::read_bytes(p) == "old contents");
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.dir())) (void)e, ++files;
  CHECK(files == 1);
  write_npy(p, Array(DType::u1, Shape{3}));
  CHECK(read_npy(p).shape() == Shape({3}));
  CHECK_THROWS_WITH(write_npy(tmp.path("no/such/dir/y.npy"), Array(DType::u1, Shape{1})),
                    Catch::Contains("no/such/dir/y.npy"));
}
