// Helpers for the [caffe] tests and fuzzers: a small protobuf encoder (to build .caffemodel
// bytes field by field, well-formed or not), a corpus of malformed and hostile models with
// the fragment each error must contain, and tests/python/caffe_ref.py (Python's protobuf,
// NumPy, PyTorch) as an independent reference.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/caffemodel.hpp"

namespace graft {
namespace caffetest {

// Protobuf wire format, written by hand so that tests can also write what no encoder would.
struct Pb {
  std::string s;

  Pb& varint(uint64_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      if (v) b |= 0x80;
      s += static_cast<char>(b);
    } while (v);
    return *this;
  }
  Pb& tag(uint32_t field, int wire) { return varint((uint64_t(field) << 3) | uint64_t(wire)); }
  Pb& u(uint32_t field, uint64_t v) { return tag(field, 0).varint(v); }
  Pb& i(uint32_t field, int64_t v) { return u(field, static_cast<uint64_t>(v)); }
  Pb& bytes(uint32_t field, const std::string& b) {
    tag(field, 2).varint(b.size());
    s += b;
    return *this;
  }
  Pb& msg(uint32_t field, const Pb& m) { return bytes(field, m.s); }
  Pb& f32(uint32_t field, float v) {
    tag(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int k = 0; k < 4; ++k) s += static_cast<char>((bits >> (8 * k)) & 0xff);
    return *this;
  }
  Pb& f64(uint32_t field, double v) {
    tag(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    for (int k = 0; k < 8; ++k) s += static_cast<char>((bits >> (8 * k)) & 0xff);
    return *this;
  }
  Pb& floats(uint32_t field, const std::vector<float>& v) {  // packed
    std::string b;
    for (float x : v) {
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      for (int k = 0; k < 4; ++k) b += static_cast<char>((bits >> (8 * k)) & 0xff);
    }
    return bytes(field, b);
  }
  Pb& doubles(uint32_t field, const std::vector<double>& v) {  // packed
    std::string b;
    for (double x : v) {
      uint64_t bits;
      std::memcpy(&bits, &x, 8);
      for (int k = 0; k < 8; ++k) b += static_cast<char>((bits >> (8 * k)) & 0xff);
    }
    return bytes(field, b);
  }
  Pb& varints(uint32_t field, const std::vector<int64_t>& v) {  // packed
    Pb b;
    for (int64_t x : v) b.varint(static_cast<uint64_t>(x));
    return bytes(field, b.s);
  }
  Pb& raw(const std::string& b) {
    s += b;
    return *this;
  }
};

inline std::vector<float> ramp(size_t n, float scale = 0.25f) {
  std::vector<float> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = scale * static_cast<float>(int(k % 17) - 8);
  return v;
}

// BlobProto with a BlobShape and packed floats.
inline Pb blob(const std::vector<int64_t>& dims, const std::vector<float>& values) {
  Pb shape;
  shape.varints(1, dims);
  return Pb().msg(7, shape).floats(5, values);
}
// BlobProto with Caffe's legacy num/channels/height/width.
inline Pb blob_v1(int64_t n, int64_t c, int64_t h, int64_t w, const std::vector<float>& values) {
  return Pb().i(1, n).i(2, c).i(3, h).i(4, w).floats(5, values);
}
inline Pb layer(const std::string& name, const std::string& type, const std::vector<Pb>& blobs = {}) {
  Pb l;
  l.bytes(1, name).bytes(2, type);
  for (const auto& b : blobs) l.msg(7, b);
  return l;
}
inline Pb layer_v1(const std::string& name, int type, const std::vector<Pb>& blobs = {}) {
  Pb l;
  l.bytes(4, name).u(5, static_cast<uint64_t>(type));
  for (const auto& b : blobs) l.msg(6, b);
  return l;
}
inline std::string net(const std::vector<Pb>& layers, bool v1 = false, const std::string& name = "net") {
  Pb n;
  n.bytes(1, name);
  for (const auto& l : layers) n.msg(v1 ? 2 : 100, l);
  return n.s;
}

// A small valid V2 model: conv1 (2, 1, 3, 3) + biases, relu1, fc (3, 8) + biases.
inline std::string small_model() {
  return net({layer("conv1", "Convolution", {blob({2, 1, 3, 3}, ramp(18)), blob({2}, {0.5f, -1.5f})}),
              layer("relu1", "ReLU"), layer("fc", "InnerProduct", {blob({3, 8}, ramp(24, 0.125f)), blob({3}, ramp(3))})});
}
// The same in V1 form (enum types 4, 18, 14; legacy 4-d blobs).
inline std::string small_model_v1() {
  return net({layer_v1("conv1", 4, {blob_v1(2, 1, 3, 3, ramp(18)), blob_v1(1, 1, 1, 2, {0.5f, -1.5f})}),
              layer_v1("relu1", 18), layer_v1("fc", 14, {blob_v1(1, 1, 3, 8, ramp(24, 0.125f)), blob_v1(1, 1, 1, 3, ramp(3))})},
             true);
}

// A model's layers and blobs written back as a V2 NetParameter (shape + packed values): what
// the fuzzer's round trip compares against.
inline std::string encode_model(const io::CaffeModel& m) {
  Pb n;
  n.bytes(1, m.name);
  for (const auto& l : m.layers) {
    Pb lp;
    lp.bytes(1, l.name).bytes(2, l.type);
    for (const auto& b : l.blobs) {
      Pb bp, shape;
      shape.varints(1, b.shape.dims());
      if (b.shape.rank()) bp.msg(7, shape);
      if (b.data.nbytes()) {
        const std::string bytes(reinterpret_cast<const char*>(b.data.data()), b.data.nbytes());
        bp.bytes(b.data.dtype() == io::DType::f8 ? 8 : 5, bytes);  // the test hosts are little-endian
      }
      lp.msg(7, bp);
    }
    n.msg(100, lp);
  }
  return n.s;
}

struct BadModel {
  std::string name;
  std::string bytes;
  std::string expect;  // a fragment of the error message
};

// Malformed and hostile .caffemodel files, each with what its error must say.
inline std::vector<BadModel> malformed_models() {
  std::vector<BadModel> out;
  const std::string good = small_model();
  auto add = [&](const std::string& name, const std::string& bytes, const std::string& expect) {
    out.push_back({name + ".caffemodel", bytes, expect});
  };
  add("empty", "", "holds no Caffe layers");
  add("only_name", Pb().bytes(1, "LeNet").s, "holds no Caffe layers");
  add("truncated_in_blob", good.substr(0, 40), "are left in its message");  // inside conv1's weights
  add("truncated_one_byte", good.substr(0, good.size() - 1), "are left in its message");
  add("layer_length_beyond_file", Pb().tag(100, 2).varint(1000).raw("abc").s, "claims 1000 bytes, but only 3");
  add("blob_length_beyond_layer", Pb().msg(100, Pb().bytes(1, "x").tag(7, 2).varint(50).raw("zz")).s, "claims 50 bytes, but only 2");
  add("huge_length", Pb().tag(100, 2).varint(uint64_t(1) << 62).s, "claims 4611686018427387904 bytes");
  add("name_is_varint", Pb().msg(100, Pb().u(1, 7)).s, "name (field 1) has wire type 0 (varint), expected 2");
  add("type_is_fixed32", Pb().msg(100, Pb().bytes(1, "a").f32(2, 1.0f)).s, "type (field 2) has wire type 5");
  add("v1_type_is_string", Pb().msg(2, Pb().bytes(4, "a").bytes(5, "CONVOLUTION")).s,
      "type (field 5) has wire type 2 (length-delimited), expected 0");
  add("data_is_varint", net({layer("a", "Convolution", {Pb().u(5, 3)})}), "data (field 5) has wire type 0 (varint), expected 5");
  add("data_not_multiple_of_4", net({layer("a", "Convolution", {Pb().bytes(5, "abcdef")})}), "6 bytes of packed float values is not a multiple of 4");
  add("double_not_multiple_of_8", net({layer("a", "Convolution", {Pb().bytes(8, "abcdefghij")})}), "not a multiple of 8");
  add("shape_is_varint", net({layer("a", "Convolution", {Pb().u(7, 1)})}), "shape (field 7) has wire type 0");
  add("dim_is_fixed64", net({layer("a", "Convolution", {Pb().msg(7, Pb().f64(1, 2.0))})}), "shape dim (field 1) has wire type 1 (64-bit), expected 0");
  add("too_few_values", net({layer("a", "Convolution", {blob({2, 3}, ramp(5))})}), "holds 5 values, but its shape (2, 3) needs 6");
  add("too_many_values", net({layer("a", "Convolution", {blob_v1(1, 1, 1, 2, ramp(3))})}), "holds 3 values, but its shape (1, 1, 1, 2) needs 2");
  add("absurd_dims", net({layer("a", "Convolution", {blob({int64_t(1) << 40, int64_t(1) << 40}, {})})}), "too large");
  add("absurd_legacy_dims", net({layer("a", "Convolution", {blob_v1(1 << 30, 1 << 30, 1 << 30, 1 << 30, {})})}), "too large");
  add("negative_dim", net({layer("a", "Convolution", {blob({-3}, {})})}), "negative dimension (-3)");
  add("negative_num", net({layer("a", "Convolution", {Pb().i(1, -1).floats(5, {})})}), "num is negative (-1)");
  add("nine_dims", net({layer("a", "Convolution", {blob({1, 1, 1, 1, 1, 1, 1, 1, 1}, {1.0f})})}), "more than 8 dimensions");
  add("shape_disagrees", net({layer("a", "Convolution", {blob({2, 3}, ramp(6)).i(1, 3).i(2, 2).i(3, 1).i(4, 1)})}),
      "has shape (2, 3) and num/channels/height/width (3, 2, 1, 1), which disagree");
  add("float_and_double", net({layer("a", "Convolution", {blob({1}, {1.0f}).doubles(8, {2.0})})}), "both float data and double_data");
  add("group", Pb().tag(100, 3).tag(100, 4).s, "is a group (wire type 3)");
  add("end_group", Pb().tag(5, 4).s, "is a group (wire type 4)");
  add("wire_type_7", Pb().tag(100, 7).s, "has wire type 7, which protobuf does not define");
  add("wire_type_6_in_layer", Pb().msg(100, Pb().tag(3, 6)).s, "has wire type 6");
  add("field_zero", Pb().tag(0, 0).varint(1).s, "field number 0 is outside");
  add("varint_overflow", Pb().tag(100, 2).raw(std::string(9, '\xff') + "\x7f").s, "varint does not fit in 64 bits");
  add("varint_truncated", Pb().tag(1, 0).raw("\x80\x80").s, "varint runs past the end of its message");
  add("tag_truncated", Pb().raw("\xa2").s, "varint runs past the end");
  add("fixed64_truncated", Pb().tag(9, 1).raw("abc").s, "needs 8 bytes, but only 3");
  add("mixed_v1_v2", Pb().msg(2, Pb().bytes(4, "a")).msg(100, Pb().bytes(1, "b")).s, "mixes V1 layers (field 2) and V2 layers");
  add("v0_layer", Pb().msg(2, Pb().msg(1, Pb().bytes(1, "conv1"))).s, "Caffe's V0 format");
  add("text_prototxt", "name: \"LeNet\"\nlayer {\n  name: \"data\"\n}\n", "not a binary .caffemodel; is it the .prototxt?");
  add("text_comment_first", "# VGG-Face\nlayers { name: \"conv1_1\" }\n", "is it the .prototxt?");
  return out;
}

// ---- caffe_ref.py ----

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error("cannot write " + path);
}

inline std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream f(path);
  if (!f) throw Error("cannot read " + path);
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> row;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

inline Shape parse_dims(const std::string& s) {
  std::vector<int64_t> d;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) d.push_back(std::stoll(x));
  return Shape(d);
}

}  // namespace caffetest
}  // namespace graft
