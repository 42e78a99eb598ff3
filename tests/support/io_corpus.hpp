// A corpus of malformed and hostile weights files, built byte by byte, each with the
// fragment its error message must contain. Used by test_io_malformed (graft::Error, no crash,
// no huge allocation) and test_io_inspect (graft-inspect exits 1 with one line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <zlib.h>

#include "graft/io/npy.hpp"
#include "graft/io/pickle_writer.hpp"
#include "graft/io/zlib_stream.hpp"

namespace graft {
namespace iotest {

struct BadFile {
  std::string name;    // file name; .npy or .npz
  std::string bytes;
  std::string expect;  // a fragment of the error message
};

struct StringSink {
  std::string s;
  void write(const void* p, size_t n) { s.append(static_cast<const char*>(p), n); }
};

// A string literal's bytes, embedded NULs included.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

inline std::string le_bytes(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// NPY v1.0 with a header of our choosing (padded as NumPy pads it), then data.
inline std::string npy_v1(const std::string& dict, const std::string& data = "") {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  return B("\x93NUMPY\x01\x00") + le_bytes(h.size(), 2) + h + data;
}

// The caffe-tensorflow container around a pickle.
inline std::string npy_object(const std::string& pickle) { return io::npy_prefix("|O", Shape{}) + pickle; }

// A valid protocol-3 pickle of {layers...} built by graft's writer: the 0-d object array
// around a dict of dicts. `body` writes the (key, value) pairs of the outer dict.
template <class Body>
std::string dict_pickle(Body body) {
  StringSink out;
  io::pickle::Writer<StringSink> p(out);
  p.proto();
  p.empty_ndarray();
  p.mark();
  p.integer(1);
  p.shape(Shape{});
  p.dtype("O8", '|', 63);
  p.boolean(false);
  p.empty_list();
  p.empty_dict();
  p.mark();
  body(p, out);
  p.setitems();
  p.append();
  p.tuple();
  p.build();
  p.stop();
  return out.s;
}

inline io::Array small_array() {
  io::Array a(io::DType::f4, Shape{2, 2});
  for (size_t i = 0; i < a.nbytes(); ++i) a.data()[i] = static_cast<uint8_t>(i * 17 + 1);
  return a;
}

inline std::string npy_bytes(const io::Array& a) {
  StringSink s;
  io::write_npy_bytes(s, a);
  return s.s;
}

inline std::string deflate_raw(const std::string& in) {
  StringSink s;
  io::Deflater<StringSink> z(s);
  z.write(in.data(), in.size());
  z.finish();
  return s.s;
}

// A zip archive whose every field can be made to lie.
struct ZipPart {
  std::string name;
  std::string data;       // as stored in the file (already compressed for method 8)
  uint16_t method = 0, flags = 0;
  uint64_t usize = 0;     // declared size
  uint32_t crc = 0;
  std::string local_name;            // "" = name
  int64_t offset_override = -1;      // local header offset the directory gives
  int64_t csize_override = -1;
};

inline ZipPart stored(const std::string& name, const std::string& content) {
  ZipPart p;
  p.name = name;
  p.data = content;
  p.usize = content.size();
  p.crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())));
  return p;
}
inline ZipPart deflated(const std::string& name, const std::string& content) {
  ZipPart p = stored(name, content);
  p.data = deflate_raw(content);
  p.method = 8;
  return p;
}

struct ZipLies {
  int64_t entries = -1;    // count in the end record
  int64_t cd_offset = -1;
  uint16_t disk = 0;
};

inline std::string zip(const std::vector<ZipPart>& parts, const ZipLies& lies = {}) {
  std::string out, cd;
  for (const auto& p : parts) {
    const uint64_t offset = out.size();
    const std::string lname = p.local_name.empty() ? p.name : p.local_name;
    const uint64_t csize = p.csize_override >= 0 ? uint64_t(p.csize_override) : p.data.size();
    auto common = [&](const std::string& n) {
      return le_bytes(20, 2) + le_bytes(p.flags, 2) + le_bytes(p.method, 2) + le_bytes(0, 2) + le_bytes(0x21, 2) +
             le_bytes(p.crc, 4) + le_bytes(csize, 4) + le_bytes(p.usize, 4) + le_bytes(n.size(), 2) + le_bytes(0, 2);
    };
    out += le_bytes(0x04034b50, 4) + common(lname) + lname + p.data;
    cd += le_bytes(0x02014b50, 4) + le_bytes(0x0314, 2) + common(p.name) + le_bytes(0, 2) + le_bytes(0, 2) +
          le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(p.offset_override >= 0 ? uint64_t(p.offset_override) : offset, 4) + p.name;
  }
  const uint64_t cd_off = lies.cd_offset >= 0 ? uint64_t(lies.cd_offset) : out.size();
  const uint64_t n = lies.entries >= 0 ? uint64_t(lies.entries) : parts.size();
  out += cd;
  out += le_bytes(0x06054b50, 4) + le_bytes(lies.disk, 2) + le_bytes(0, 2) + le_bytes(n, 2) + le_bytes(n, 2) +
         le_bytes(cd.size(), 4) + le_bytes(cd_off, 4) + le_bytes(0, 2);
  return out;
}

inline std::vector<BadFile> malformed_corpus() {
  std::vector<BadFile> c;
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  // ---- NPY ----
  c.push_back({"empty.npy", "", "not an .npy or .npz file"});
  c.push_back({"magic.npy", B("\x93NUMPX\x01\x00") + std::string(60, ' '), "not an .npy or .npz file"});
  c.push_back({"version.npy", B("\x93NUMPY\x04\x00\x10\x00") + std::string(16, ' '), "unsupported NPY version 4.0"});
  c.push_back({"header_len.npy", B("\x93NUMPY\x01\x00\xff\xff") + "{'descr'", "the NPY header needs 65535 bytes"});
  c.push_back({"header_limit.npy", B("\x93NUMPY\x02\x00") + le_bytes(0x7fffffff, 4) + "{", "exceeds the limit"});
  c.push_back({"not_dict.npy", npy_v1("[1, 2]"), "expected '{'"});
  c.push_back({"missing_shape.npy", npy_v1("{'descr': '<f4', 'fortran_order': False}"), "lacks 'shape'"});
  c.push_back({"extra_key.npy", npy_v1(f4 + "(1,), 'x': 1}", "abcd"), "unexpected key 'x'"});
  c.push_back({"dup_key.npy", npy_v1(f4 + "(1,), 'shape': (1,)}", "abcd"), "'shape' appears twice"});
  c.push_back({"complex.npy", npy_v1("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", "abcdefgh"), "unsupported dtype '<c8'"});
  c.push_back({"structured.npy", npy_v1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}"), "structured dtype"});
  c.push_back({"negative.npy", npy_v1(f4 + "(-1,)}"), "non-negative integer"});
  c.push_back({"huge_shape.npy", npy_v1(f4 + "(1000000000000, 1000000000000)}"), "too large"});
  c.push_back({"huge_dim.npy", npy_v1(f4 + "(99999999999999999999,)}"), "dimension too large"});
  c.push_back({"rank9.npy", npy_v1(f4 + "(1, 1, 1, 1, 1, 1, 1, 1, 1)}"), "more than 8 dimensions"});
  c.push_back({"not_tuple.npy", npy_v1(f4 + "(3)}", std::string(12, 'x')), "is not a tuple"});
  c.push_back({"fortran_maybe.npy", npy_v1("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", "abcd"), "must be True or False"});
  c.push_back({"lying_header.npy", npy_v1(f4 + "(100,), }", std::string(40, 'x')), "needs 400 bytes of data, but 40 bytes follow"});
  c.push_back({"trailing.npy", npy_v1(f4 + "(2,), }", std::string(12, 'x')), "trailing bytes"});
  c.push_back({"unterminated.npy", npy_v1("{'descr': '<f4"), "unterminated string"});
  c.push_back({"escape.npy", npy_v1("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}"), "escapes"});
  {
    std::string v3 = npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\xff': 1}", "abcd");
    v3[6] = 3;
    v3 = v3.substr(0, 8) + le_bytes(io::load_le(reinterpret_cast<const unsigned char*>(v3.data()) + 8, 2), 4) + v3.substr(10);
    c.push_back({"v3_utf8.npy", v3, "not valid UTF-8"});
  }

  // ---- pickles in the caffe-tensorflow container ----
  c.push_back({"os_system.npy", npy_object(B("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")),
               "refusing global 'os.system'"});
  c.push_back({"posix_system.npy", npy_object(B("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.")),
               "refusing global 'posix.system'"});
  c.push_back({"builtins_eval.npy",
               npy_object(B("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93\x8c\x01" "1\x85R.")),
               "refusing global 'builtins.eval'"});
  c.push_back({"numpy_load.npy", npy_object(B("\x80\x02" "cnumpy\nload\n.")), "refusing global 'numpy.load'"});
  c.push_back({"inst.npy", npy_object(B("\x80\x02(X\x02\x00\x00\x00lsios\nsystem\n.")), "opcode INST"});
  c.push_back({"newobj.npy", npy_object(B("\x80\x02N)\x81.")), "opcode NEWOBJ"});
  c.push_back({"ext1.npy", npy_object(B("\x80\x02\x82\x01.")), "opcode EXT1"});
  c.push_back({"unknown_op.npy", npy_object(B("\x80\x02\xff.")), "unknown pickle opcode 0xff"});
  c.push_back({"proto0.npy", npy_object("(lp0\n."), "starts with PROTO"});
  c.push_back({"proto9.npy", npy_object(B("\x80\x09N.")), "protocol 9 is not supported"});
  c.push_back({"deep_marks.npy", npy_object(B("\x80\x02") + std::string(1100000, '(')), "nested marks"});
  c.push_back({"deep_lists.npy", npy_object(B("\x80\x02") + std::string(1100000, ']')), "more than 1048576 pickle"});
  c.push_back({"memo_missing.npy", npy_object(B("\x80\x02j\xff\xff\xff\x7f.")), "memo key 2147483647 was never stored"});
  c.push_back({"binbytes_huge.npy", npy_object(B("\x80\x03" "B\xf0\xff\xff\xff" "abc.")), "needs 4294967280 bytes"});
  c.push_back({"unicode8_huge.npy", npy_object(B("\x80\x04\x8d") + le_bytes(uint64_t(1) << 60, 8) + "."), "over the limit"});
  c.push_back({"bad_utf8.npy", npy_object(B("\x80\x03X\x02\x00\x00\x00\xff\xfe.")), "not valid UTF-8"});
  c.push_back({"long_global.npy", npy_object(B("\x80\x02" "c") + std::string(300, 'a') + "\nb\n."), "longer than 256 bytes"});
  c.push_back({"build_dict.npy", npy_object(B("\x80\x02}}b.")), "BUILD of a dict"});
  c.push_back({"stop_two.npy", npy_object(B("\x80\x02NN.")), "STOP with 2 objects"});
  c.push_back({"no_stop.npy", npy_object(B("\x80\x02N")), "a pickle opcode needs 1 byte, but only 0 are left"});
  c.push_back({"top_dict.npy", npy_object(B("\x80\x02}.")), "the pickle holds a dict, expected the 0-d object array"});
  c.push_back({"reduce_ndarray.npy", npy_object(B("\x80\x02" "cnumpy\nndarray\n)R.")), "numpy.ndarray may not be called"});

  using W = io::pickle::Writer<StringSink>;
  auto one_layer = [](const std::string& layer, auto value) {
    return dict_pickle([&](W& p, StringSink& s) {
      p.text(layer);
      value(p, s);
    });
  };
  auto param = [](const std::string& name, auto value) {
    return [=](W& p, StringSink& s) {
      p.empty_dict();
      p.mark();
      p.text(name);
      value(p, s);
      p.setitems();
    };
  };
  const io::Array arr = small_array();
  c.push_back({"after_stop.npy", npy_object(one_layer("conv1", param("weights", [&](W& p, StringSink&) { p.ndarray(arr); })) + "junk"),
               "4 bytes follow the pickle's STOP"});
  c.push_back({"layer_int.npy", npy_object(one_layer("conv1", [](W& p, StringSink&) { p.integer(5); })),
               "layer 'conv1' holds a int, expected a dict of arrays"});
  c.push_back({"param_str.npy", npy_object(one_layer("conv1", param("weights", [](W& p, StringSink&) { p.text("x"); }))),
               "parameter 'weights' is a str, expected an array"});
  // The array is memoised (BINPUT 7) under one layer and fetched again (BINGET 7) for a second.
  c.push_back({"array_twice.npy", npy_object(dict_pickle([&](W& p, StringSink& s) {
                 p.text("a");
                 param("w", [&](W& q, StringSink& t) {
                   q.ndarray(arr);
                   t.s += "q\x07";
                 })(p, s);
                 p.text("b");
                 param("w", [](W&, StringSink& t) { t.s += "h\x07"; })(p, s);
               })),
               "the same array appears twice"});
  // A dict that holds itself: d = {}; d['a'] = d.
  c.push_back({"cycle.npy", npy_object(one_layer("conv1", [](W& p, StringSink& s) {
                 p.empty_dict();
                 s.s += "q\x09";
                 p.text("a");
                 s.s += "h\x09";
                 s.s += "s";
               })),
               "parameter 'a' is a dict, expected an array"});
  c.push_back({"unbuilt_array.npy", npy_object(one_layer("conv1", param("weights", [](W& p, StringSink&) { p.empty_ndarray(); }))),
               "never given its data"});
  auto array_with = [&](const std::string& code, char order, const Shape& shape, const std::string& data) {
    return one_layer("conv1", param("weights", [=](W& p, StringSink&) {
      p.empty_ndarray();
      p.mark();
      p.integer(1);
      p.shape(shape);
      p.dtype(code, order, 0);
      p.boolean(false);
      p.bytes(data.data(), data.size());
      p.tuple();
      p.build();
    }));
  };
  c.push_back({"array_data_short.npy", npy_object(array_with("f4", '<', Shape{1000}, "12345678")), "needs 4000 bytes, its data has 8"});
  c.push_back({"array_huge.npy", npy_object(array_with("f8", '<', Shape{1 << 20, 1 << 20}, "x")), "over the limit"});
  c.push_back({"dtype_complex.npy", npy_object(array_with("c16", '<', Shape{1}, std::string(16, 'x'))), "unsupported dtype 'c16'"});
  c.push_back({"dtype_order.npy", npy_object(array_with("f4", '!', Shape{1}, "abcd")), "is not one"});
  c.push_back({"object_inner.npy", npy_object(one_layer("conv1", param("weights", [](W& p, StringSink&) {
                 p.empty_ndarray();
                 p.mark();
                 p.integer(1);
                 p.shape(Shape{});
                 p.dtype("O8", '|', 63);
                 p.boolean(false);
                 p.empty_list();
                 p.none();
                 p.append();
                 p.tuple();
                 p.build();
               }))),
               "array of Python objects"});
  {  // a dtype whose state has field names: a structured type
    std::string s = array_with("f4", '<', Shape{1}, "abcd");
    const std::string none3 = "NNN";
    const size_t at = s.find(none3);
    s.replace(at, 3, B("N)N"));
    c.push_back({"dtype_structured.npy", npy_object(s), "structured and sub-array dtypes"});
  }
  c.push_back({"object_shape.npy", io::npy_prefix("|O", Shape{2}) + B("\x80\x02N."), "expected shape ()"});

  // ---- NPZ ----
  const std::string good = npy_bytes(arr);
  c.push_back({"no_eocd.npz", "PK\x03\x04" + std::string(40, 'z'), "no end-of-central-directory record"});
  c.push_back({"many_entries.npz", zip({stored("a.npy", good)}, ZipLies{65535, -1, 0}), "cannot hold them"});
  c.push_back({"cd_outside.npz", zip({stored("a.npy", good)}, ZipLies{-1, 1 << 20, 0}), "lies outside the file"});
  c.push_back({"multidisk.npz", zip({stored("a.npy", good)}, ZipLies{-1, -1, 1}), "multi-disk"});
  {
    ZipPart a = stored("a.npy", good), b = stored("b.npy", good);
    a.csize_override = int64_t(good.size() + 40);  // runs into b's local header
    a.usize = a.csize_override;
    c.push_back({"overlap.npz", zip({a, b}), "overlap"});
  }
  {
    ZipPart p = deflated("a.npy", good);
    for (size_t i = 2; i < p.data.size(); ++i) p.data[i] = static_cast<char>(0xff - i);
    c.push_back({"corrupt_deflate.npz", zip({p}), "deflate"});
  }
  {
    ZipPart p = stored("a.npy", good);
    p.crc ^= 1;
    c.push_back({"bad_crc.npz", zip({p}), "CRC-32"});
  }
  {
    ZipPart p = stored("a.npy", good);
    p.flags = 1;
    c.push_back({"encrypted.npz", zip({p}), "encrypted"});
  }
  {
    ZipPart p = stored("a.npy", good);
    p.method = 12;
    c.push_back({"bzip2.npz", zip({p}), "compression method 12"});
  }
  {
    ZipPart p = stored("a.npy", good);
    p.local_name = "b.npy";
    c.push_back({"name_mismatch.npz", zip({p}), "local header names it 'b.npy'"});
  }
  c.push_back({"dup_names.npz", zip({stored("a.npy", good), stored("a.npy", good)}), "appears twice"});
  {
    ZipPart p = deflated("a.npy", good + "more");
    p.usize = good.size();  // the stream holds 4 bytes more than declared
    p.crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(good.data()), static_cast<uInt>(good.size())));
    c.push_back({"inflate_longer.npz", zip({p}), "inflates to more than"});
  }
  {
    const std::string header_only = npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", "0123456789");
    ZipPart p = deflated("a.npy", header_only);
    p.usize = header_only.size() - 10 + 4000;  // what the header promises
    c.push_back({"inflate_shorter.npz", zip({p}), "deflate stream ends after"});
  }
  {
    ZipPart p = deflated("a.npy", good);
    p.usize = 0xfffffffe;  // a zip bomb's claim, far beyond what the bytes can hold
    c.push_back({"bomb_claim.npz", zip({p}), "bytes follow the header"});
  }
  {
    // The header promises 1 GiB, and so does the directory; the stream holds 1000 bytes.
    // Memory grows with the data that really arrives, so this costs no gigabyte.
    const std::string head = npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }");
    ZipPart p = deflated("a.npy", head + std::string(1000, '\0'));
    p.usize = head.size() + (uint64_t(1) << 30);
    c.push_back({"bomb.npz", zip({p}), "deflate stream ends after"});
  }
  c.push_back({"object_entry.npz", zip({stored("d.npy", npy_object(B("\x80\x02N.")))}), "holds pickled Python objects"});
  c.push_back({"text_entry.npz", zip({stored("readme.txt", "just some text, not an array")}), "not an NPY file"});
  {
    ZipPart p = stored("a.npy", good);
    p.csize_override = 1 << 20;
    p.usize = 1 << 20;
    c.push_back({"data_past_cd.npz", zip({p}), "run past the start of the central directory"});
  }
  {
    std::string z = zip({stored("a.npy", good)});
    // A zip64 locator right before the end record, pointing far outside the file.
    const size_t eocd = z.size() - 22;
    z.insert(eocd, le_bytes(0x07064b50, 4) + le_bytes(0, 4) + le_bytes(uint64_t(1) << 40, 8) + le_bytes(1, 4));
    c.push_back({"zip64_locator.npz", z, "zip64 locator points outside"});
  }
  return c;
}

}  // namespace iotest
}  // namespace graft
