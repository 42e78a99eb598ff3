// ONNX model files (.onnx, a protobuf ModelProto), read and written without libprotobuf or
// the onnx package: the convolutional subset graft builds networks from (graft/nn/onnx.hpp).
//
// What is read (field numbers of onnx.proto); everything else is skipped by wire type:
//   ModelProto     ir_version 1, producer_name 2, producer_version 3, graph 7,
//                  opset_import 8 (OperatorSetIdProto: domain 1, version 2), metadata_props 14
//                  (StringStringEntryProto: key 1, value 2)
//   GraphProto     node 1, name 2, initializer 5, input 11, output 12
//   NodeProto      input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20; a graph (6, 11),
//                  sparse tensor or type proto is noted by its type and not read
//   TensorProto    dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8,
//                  raw_data 9, double_data 10, external_data 13, data_location 14
//   ValueInfoProto name 1, type 2 (TypeProto: tensor_type 1: elem_type 1, shape 2:
//                  TensorShapeProto dim 1: dim_value 1, dim_param 2)
// Repeated numbers are accepted packed or one per field, as protobuf requires of a reader.
//
// Tensors: FLOAT, DOUBLE, FLOAT16, INT8/16/32/64, UINT8/16/32/64 and BOOL from raw_data;
// FLOAT, DOUBLE, INT32 and INT64 also from their typed fields. A tensor stored as external
// data (data_location EXTERNAL: "location", "offset", "length") is read from the file it
// names, which must be a relative path inside the model's folder (no "..", no absolute path,
// no symbolic link out of it): a model file may not make graft read anything else.
//
// Untrusted input: see protobuf.hpp; in addition the number of nodes, initializers and
// attributes is bounded by ReadLimits::max_layers, names by max_name_bytes, each tensor by
// max_array_bytes and all of them by max_total_bytes, and a tensor's values must be exactly
// as many as its dims say. Errors name the file and the byte offset.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/protobuf.hpp"
#include "graft/io/protobuf_writer.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {

// TensorProto.DataType values graft reads.
namespace onnx_type {
constexpr int kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8,
              kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13;
}

// ONNX's data type of a DType, and back (false: a type graft does not hold, e.g. STRING).
inline int onnx_data_type(DType t) {
  switch (t) {
    case DType::b1: return onnx_type::kBool;
    case DType::i1: return onnx_type::kInt8;
    case DType::u1: return onnx_type::kUint8;
    case DType::i2: return onnx_type::kInt16;
    case DType::u2: return onnx_type::kUint16;
    case DType::i4: return onnx_type::kInt32;
    case DType::u4: return onnx_type::kUint32;
    case DType::i8: return onnx_type::kInt64;
    case DType::u8: return onnx_type::kUint64;
    case DType::f2: return onnx_type::kFloat16;
    case DType::f4: return onnx_type::kFloat;
    case DType::f8: return onnx_type::kDouble;
  }
  return 0;
}
inline bool dtype_of_onnx(int t, DType& out) {
  for (DType d : {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4, DType::u4, DType::i8, DType::u8,
                  DType::f2, DType::f4, DType::f8})
    if (onnx_data_type(d) == t) {
      out = d;
      return true;
    }
  return false;
}

struct OnnxTensor {
  std::string name;
  Array data;           // C order, host byte order
  uint64_t offset = 0;  // where the TensorProto starts in the file
  // Stored as external data: its entries ("location", "offset", "length"), and the type and
  // dims the data must have. read_onnx reads the data and clears these.
  std::vector<std::pair<std::string, std::string>> external;
  DType external_dtype = DType::f4;
  Shape external_shape;
};

// AttributeProto.AttributeType values.
enum class OnnxAttrType : int {
  undefined = 0, f = 1, i = 2, s = 3, tensor = 4, graph = 5, floats = 6, ints = 7, strings = 8, tensors = 9,
  graphs = 10, sparse_tensor = 11, sparse_tensors = 12, type_proto = 13, type_protos = 14
};

struct OnnxAttribute {
  std::string name;
  OnnxAttrType type = OnnxAttrType::undefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<OnnxTensor> tensors;  // t (one), or tensors
  uint64_t offset = 0;
};

struct OnnxNode {
  std::string name, op_type, domain;
  std::vector<std::string> inputs, outputs;  // "" marks an optional input left out
  std::vector<OnnxAttribute> attributes;
  uint64_t offset = 0;

  const OnnxAttribute* attr(const std::string& n) const {
    for (const auto& a : attributes)
      if (a.name == n) return &a;
    return nullptr;
  }
};

// A graph input or output: a tensor's element type and dims (-1: symbolic or unknown).
struct OnnxValueInfo {
  std::string name;
  int elem_type = 0;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_params;  // the name of each symbolic dim ("" for a number)
  uint64_t offset = 0;
};

struct OnnxGraph {
  std::string name;
  std::vector<OnnxNode> nodes;  // topologically sorted (ONNX requires it)
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxValueInfo> inputs, outputs;

  const OnnxTensor* initializer(const std::string& n) const {
    for (const auto& t : initializers)
      if (t.name == n) return &t;
    return nullptr;
  }
};

struct OnnxModel {
  std::string file;
  int64_t ir_version = 0;
  std::string producer_name, producer_version;
  std::vector<std::pair<std::string, int64_t>> opsets;  // (domain, version); "" is ai.onnx
  OnnxGraph graph;
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props, in order

  // The version of the default operator set (domain "" or "ai.onnx"), 0 when not imported.
  int64_t opset() const {
    for (const auto& o : opsets)
      if (o.first.empty() || o.first == "ai.onnx") return o.second;
    return 0;
  }
  const std::string* meta(const std::string& key) const {
    for (const auto& kv : metadata)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

inline bool is_onnx_path(const std::string& path) {
  const std::string ext = ".onnx";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

namespace detail {

class OnnxParser {
 public:
  // `folder`: where external data may come from (empty: external data is refused).
  OnnxParser(const Source& src, std::string folder, const ReadLimits& limits)
      : src_(src), folder_(std::move(folder)), limits_(limits), r_(src, limits.max_nesting) {}

  OnnxModel run() {
    OnnxModel m;
    m.file = src_.name();
    pb::Field f;
    bool graph = false;
    while (r_.next(f)) {
      switch (f.number) {
        case 1: r_.expect(f, pb::Wire::varint, "ir_version"); m.ir_version = int64_t(f.value); break;
        case 2: m.producer_name = str(f, "producer_name"); break;
        case 3: m.producer_version = str(f, "producer_version"); break;
        case 7:
          if (graph) r_.fail_at(f.offset, "a second graph in the model");
          graph = true;
          m.graph = read_graph(f);
          break;
        case 8: {
          bounded(m.opsets.size(), f, "opset_import entries");
          std::pair<std::string, int64_t> o{"", 0};
          r_.enter(f, "opset_import");
          pb::Field g;
          while (r_.next(g)) {
            if (g.number == 1) o.first = str(g, "opset domain");
            else if (g.number == 2) {
              r_.expect(g, pb::Wire::varint, "opset version");
              o.second = int64_t(g.value);
            }
          }
          r_.leave();
          m.opsets.push_back(o);
          break;
        }
        case 14: {
          bounded(m.metadata.size(), f, "metadata_props entries");
          m.metadata.push_back(key_value(f, "metadata_props"));
          break;
        }
        default: break;  // doc_string, domain, model_version, training_info, functions: not needed
      }
    }
    if (!graph)
      GRAFT_FAIL(src_.name(), ": holds no ONNX graph (", src_.size(), " bytes; is it an .onnx model file?)");
    for (auto& t : m.graph.initializers) load_external(t);
    for (auto& n : m.graph.nodes)
      for (auto& a : n.attributes)
        for (auto& t : a.tensors) load_external(t);
    return m;
  }

 private:
  std::string str(const pb::Field& f, const char* what) { return r_.bytes(f, limits_.max_name_bytes, what); }
  void bounded(size_t n, const pb::Field& f, const char* what) {
    if (n >= limits_.max_layers) r_.fail_at(f.offset, "more than ", limits_.max_layers, " ", what, " (ReadLimits::max_layers)");
  }
  int64_t varint_value(const pb::Field& f, const char* what) {
    r_.expect(f, pb::Wire::varint, what);
    return static_cast<int64_t>(f.value);
  }
  // Repeated int64: packed or one per field; at most `max` of them.
  void ints(const pb::Field& f, std::vector<int64_t>& out, uint64_t max, const char* what) {
    auto add = [&](uint64_t v) {
      if (out.size() >= max) r_.fail_at(f.offset, what, ": more than ", max, " values");
      out.push_back(static_cast<int64_t>(v));
    };
    if (f.wire == pb::Wire::len) r_.packed_varints(f, what, add);
    else add(uint64_t(varint_value(f, what)));
  }

  std::pair<std::string, std::string> key_value(const pb::Field& f, const char* what) {
    std::pair<std::string, std::string> kv;
    r_.enter(f, what);
    pb::Field g;
    while (r_.next(g)) {
      if (g.number == 1) kv.first = str(g, "key");
      else if (g.number == 2) kv.second = r_.bytes(g, limits_.max_text_bytes, "value");
    }
    r_.leave();
    return kv;
  }

  OnnxGraph read_graph(const pb::Field& f) {
    OnnxGraph g;
    r_.enter(f, "graph");
    pb::Field h;
    while (r_.next(h)) {
      switch (h.number) {
        case 1: bounded(g.nodes.size(), h, "nodes"); g.nodes.push_back(read_node(h)); break;
        case 2: g.name = str(h, "graph name"); break;
        case 5: bounded(g.initializers.size(), h, "initializers"); g.initializers.push_back(read_tensor(h, "initializer")); break;
        case 11: bounded(g.inputs.size(), h, "graph inputs"); g.inputs.push_back(read_value_info(h, "graph input")); break;
        case 12: bounded(g.outputs.size(), h, "graph outputs"); g.outputs.push_back(read_value_info(h, "graph output")); break;
        default: break;  // value_info, doc_string, sparse_initializer (refused where used: the name is unknown)
      }
    }
    r_.leave();
    return g;
  }

  OnnxNode read_node(const pb::Field& f) {
    OnnxNode n;
    n.offset = f.offset;
    r_.enter(f, "node");
    pb::Field g;
    while (r_.next(g)) {
      switch (g.number) {
        case 1:
          bounded(n.inputs.size(), g, "node inputs");
          n.inputs.push_back(str(g, "node input"));
          break;
        case 2:
          bounded(n.outputs.size(), g, "node outputs");
          n.outputs.push_back(str(g, "node output"));
          break;
        case 3: n.name = str(g, "node name"); break;
        case 4: n.op_type = str(g, "op_type"); break;
        case 5: bounded(n.attributes.size(), g, "attributes"); n.attributes.push_back(read_attribute(g)); break;
        case 7: n.domain = str(g, "node domain"); break;
        default: break;
      }
    }
    r_.leave();
    return n;
  }

  OnnxAttribute read_attribute(const pb::Field& f) {
    OnnxAttribute a;
    a.offset = f.offset;
    r_.enter(f, "attribute");
    pb::Field g;
    OnnxAttrType seen = OnnxAttrType::undefined;  // what the fields present say, for files without `type`
    while (r_.next(g)) {
      switch (g.number) {
        case 1: a.name = str(g, "attribute name"); break;
        case 2:
          r_.expect(g, pb::Wire::fixed32, "attribute f");
          {
            const uint32_t bits = uint32_t(g.value);
            std::memcpy(&a.f, &bits, 4);
          }
          seen = OnnxAttrType::f;
          break;
        case 3: a.i = varint_value(g, "attribute i"); seen = OnnxAttrType::i; break;
        case 4: a.s = r_.bytes(g, limits_.max_text_bytes, "attribute s"); seen = OnnxAttrType::s; break;
        case 5:
        case 10:
          bounded(a.tensors.size(), g, "attribute tensors");
          a.tensors.push_back(read_tensor(g, "attribute tensor"));
          seen = g.number == 5 ? OnnxAttrType::tensor : OnnxAttrType::tensors;
          break;
        case 6: seen = OnnxAttrType::graph; break;   // subgraphs (If, Loop, Scan): not built
        case 11: seen = OnnxAttrType::graphs; break;
        case 7:
          if (g.wire == pb::Wire::len) {
            if (g.value % 4) r_.fail_at(g.offset, "attribute floats: ", g.value, " bytes is not a multiple of 4");
            if (a.floats.size() + g.value / 4 > limits_.max_layers)
              r_.fail_at(g.offset, "attribute floats: more than ", limits_.max_layers, " values");
            std::vector<uint8_t> b;
            r_.append_payload(g, b, "attribute floats");
            for (size_t k = 0; k + 4 <= b.size(); k += 4) a.floats.push_back(float_of(load_le(b.data() + k, 4)));
          } else {
            r_.expect(g, pb::Wire::fixed32, "attribute floats");
            if (a.floats.size() >= limits_.max_layers) r_.fail_at(g.offset, "attribute floats: too many values");
            a.floats.push_back(float_of(g.value));
          }
          seen = OnnxAttrType::floats;
          break;
        case 8: ints(g, a.ints, limits_.max_layers, "attribute ints"); seen = OnnxAttrType::ints; break;
        case 9: seen = OnnxAttrType::strings; break;
        case 20: a.type = static_cast<OnnxAttrType>(varint_value(g, "attribute type")); break;
        default: break;
      }
    }
    r_.leave();
    if (a.type == OnnxAttrType::undefined) a.type = seen;
    return a;
  }

  static float float_of(uint64_t bits) {
    const uint32_t b = uint32_t(bits);
    float v;
    std::memcpy(&v, &b, 4);
    return v;
  }

  OnnxValueInfo read_value_info(const pb::Field& f, const char* what) {
    OnnxValueInfo v;
    v.offset = f.offset;
    r_.enter(f, what);
    pb::Field g;
    while (r_.next(g)) {
      if (g.number == 1) {
        v.name = str(g, "value name");
      } else if (g.number == 2) {  // TypeProto
        r_.enter(g, "type");
        pb::Field t;
        while (r_.next(t)) {
          if (t.number != 1) continue;  // sequence, map, optional ...: elem_type stays 0
          r_.enter(t, "tensor_type");
          pb::Field e;
          while (r_.next(e)) {
            if (e.number == 1) {
              v.elem_type = int(varint_value(e, "elem_type"));
            } else if (e.number == 2) {
              v.has_shape = true;
              r_.enter(e, "shape");
              pb::Field d;
              while (r_.next(d)) {
                if (d.number != 1) continue;
                if (v.dims.size() >= 64) r_.fail_at(d.offset, "a shape of more than 64 dims");
                int64_t dim = -1;
                std::string param;
                r_.enter(d, "dim");
                pb::Field x;
                while (r_.next(x)) {
                  if (x.number == 1) dim = varint_value(x, "dim_value");
                  else if (x.number == 2) param = str(x, "dim_param");
                }
                r_.leave();
                v.dims.push_back(dim);
                v.dim_params.push_back(param);
              }
              r_.leave();
            }
          }
          r_.leave();
        }
        r_.leave();
      }
    }
    r_.leave();
    return v;
  }

  OnnxTensor read_tensor(const pb::Field& f, const char* what) {
    OnnxTensor t;
    t.offset = f.offset;
    r_.enter(f, what);
    std::vector<int64_t> dims;
    int data_type = 0;
    bool external = false, raw = false;
    std::vector<uint8_t> bytes;  // raw_data, or the typed values in the tensor's own type
    int typed = 0;               // the typed field that held values (4, 5, 7, 10)
    std::vector<std::pair<std::string, std::string>> ext;
    pb::Field g;
    while (r_.next(g)) {
      switch (g.number) {
        case 1: ints(g, dims, Shape::kMaxRank, "tensor dims"); break;
        case 2: data_type = int(varint_value(g, "tensor data_type")); break;
        case 8: t.name = str(g, "tensor name"); break;
        case 9:
          raw = true;
          count(g.offset, bytes.size() + g.value);
          r_.append_payload(g, bytes, "raw_data");
          break;
        case 4: case 10:  // float_data, double_data: fixed-size values
          typed_field(g, typed, bytes, g.number == 4 ? 4 : 8);
          break;
        case 5: case 7:   // int32_data, int64_data: varints
          typed_field(g, typed, bytes, g.number == 5 ? 4 : 8);
          break;
        case 13:
          bounded(ext.size(), g, "external_data entries");
          ext.push_back(key_value(g, "external_data"));
          break;
        case 14: external = varint_value(g, "data_location") == 1; break;
        case 3: r_.fail_at(g.offset, "tensor ", quote(t.name), " is a segment of a larger tensor, which graft does not read");
        default: break;  // string_data (refused below: no DType), uint64_data, doc_string
      }
    }
    r_.leave();
    const std::string where = src_.name() + ": offset " + std::to_string(f.offset) + ": tensor " + quote(t.name);
    DType dt;
    GRAFT_CHECK(dtype_of_onnx(data_type, dt), where, " has data type ", data_type,
                ", which graft does not read (float, double, float16, int8..int64, uint8..uint64, bool)");
    for (int64_t d : dims) GRAFT_CHECK(d >= 0, where, " has a negative dim ", d);
    uint64_t n = 1;
    for (int64_t d : dims) {
      GRAFT_CHECK(d == 0 || n <= limits_.max_array_bytes / uint64_t(d), where, " has dims whose product is too large");
      n *= uint64_t(d);
    }
    const Shape shape(dims);
    const uint64_t need = n * itemsize(dt);
    GRAFT_CHECK(need <= limits_.max_array_bytes, where, " would take ", need, " bytes, more than ",
                limits_.max_array_bytes, " (ReadLimits::max_array_bytes)");
    GRAFT_CHECK(int(raw) + int(typed != 0) + int(external) <= 1, where,
                " has its values in more than one place (raw_data, a typed field, external data)");
    if (external) {
      GRAFT_CHECK(!ext.empty(), where, " is stored as external data but names no location");
      t.external = std::move(ext);
      t.external_dtype = dt;
      t.external_shape = shape;
      return t;  // its data: load_external, once the whole file is read
    }
    if (typed) {
      // Each typed field holds one C type; it must be the one the tensor's type is held in.
      const bool ok = (typed == 4 && dt == DType::f4) || (typed == 10 && dt == DType::f8) ||
                      (typed == 7 && dt == DType::i8) || (typed == 5 && dt == DType::i4);
      GRAFT_CHECK(ok, where, ": graft reads ", dtype_name(dt), " values from raw_data",
                  dt == DType::f4 ? " or float_data" : dt == DType::f8 ? " or double_data"
                  : dt == DType::i8 ? " or int64_data" : dt == DType::i4 ? " or int32_data" : "",
                  ", not from field ", typed);
    }
    GRAFT_CHECK(bytes.size() == need, where, " of type ", dtype_name(dt), " and dims ", shape.str(), " needs ", n,
                " values (", need, " bytes), but the file holds ", bytes.size(), " bytes of them");
    if (!host_is_little_endian()) {
      const size_t k = itemsize(dt);
      for (size_t i = 0; i + k <= bytes.size(); i += k) std::reverse(bytes.begin() + long(i), bytes.begin() + long(i + k));
    }
    t.data = Array(dt, shape, std::move(bytes));
    total_ += need;
    return t;
  }

  // A typed field's values appended to `bytes` as `size`-byte little-endian numbers.
  void typed_field(const pb::Field& g, int& typed, std::vector<uint8_t>& bytes, size_t size) {
    if (typed && typed != int(g.number)) r_.fail_at(g.offset, "a tensor with values in two typed fields");
    typed = int(g.number);
    const bool fixed = g.number == 4 || g.number == 10;
    if (fixed) {
      const pb::Wire single = size == 4 ? pb::Wire::fixed32 : pb::Wire::fixed64;
      if (g.wire == pb::Wire::len) {
        if (g.value % size) r_.fail_at(g.offset, "packed values: ", g.value, " bytes is not a multiple of ", size);
        count(g.offset, bytes.size() + g.value);
        r_.append_payload(g, bytes, "tensor values");
      } else {
        r_.expect(g, single, "tensor value");
        count(g.offset, bytes.size() + size);
        for (size_t i = 0; i < size; ++i) bytes.push_back(uint8_t(g.value >> (8 * i)));
      }
      return;
    }
    auto add = [&](uint64_t v) {
      count(g.offset, bytes.size() + size);
      for (size_t i = 0; i < size; ++i) bytes.push_back(uint8_t(v >> (8 * i)));
    };
    // A varint takes at least a byte, so the values are bounded by the field's length.
    if (g.wire == pb::Wire::len) r_.packed_varints(g, "tensor values", add);
    else add(uint64_t(varint_value(g, "tensor value")));
  }

  // Bytes of the tensor being read so far (`n`), against the limits.
  void count(uint64_t offset, uint64_t n) {
    if (n > limits_.max_array_bytes)
      r_.fail_at(offset, "a tensor of more than ", limits_.max_array_bytes, " bytes (ReadLimits::max_array_bytes)");
    if (total_ + n > limits_.max_total_bytes)
      r_.fail_at(offset, "tensors total more than ", limits_.max_total_bytes, " bytes (ReadLimits::max_total_bytes)");
  }

  // Reads the data of a tensor stored as external data (nothing for an inline one).
  void load_external(OnnxTensor& t) {
    if (t.external.empty()) return;
    const std::string where = src_.name() + ": offset " + std::to_string(t.offset) + ": tensor " + quote(t.name);
    const DType dtype = t.external_dtype;
    const Shape shape = t.external_shape;
    std::string location;
    uint64_t offset = 0, length = 0;
    bool has_length = false;
    for (const auto& kv : t.external) {
      if (kv.first == "location") location = kv.second;
      else if (kv.first == "offset" || kv.first == "length") {
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(kv.second.c_str(), &end, 10);
        GRAFT_CHECK(!kv.second.empty() && *end == 0 && errno == 0 && kv.second[0] != '-', where, ": external data ",
                    kv.first, " ", quote(kv.second), " is not a number");
        (kv.first == "offset" ? offset : length) = v;
        if (kv.first == "length") has_length = true;
      }
    }
    GRAFT_CHECK(!location.empty(), where, ": external data names no location");
    GRAFT_CHECK(!folder_.empty(), where, ": external data (", quote(location),
                ") can only be read from a model file on disk");
    const std::filesystem::path rel(location);
    bool inside = !rel.is_absolute() && !rel.has_root_name() && !rel.has_root_directory();
    for (const auto& part : rel)
      if (part == "..") inside = false;
    GRAFT_CHECK(inside, where, ": external data location ", quote(location),
                " leaves the model's folder (only a relative path inside it is read)");
    const std::filesystem::path dir = std::filesystem::weakly_canonical(folder_);
    const std::filesystem::path full = std::filesystem::weakly_canonical(dir / rel);
    auto d = dir.begin();
    auto p = full.begin();
    for (; d != dir.end() && p != full.end(); ++d, ++p)
      if (*d != *p) break;
    GRAFT_CHECK(d == dir.end(), where, ": external data location ", quote(location), " resolves to ",
                full.string(), ", outside the model's folder ", dir.string());
    const uint64_t need = uint64_t(shape.numel()) * itemsize(dtype);
    GRAFT_CHECK(!has_length || length == need, where, ": external data length ", length, " differs from the ", need,
                " bytes its dims ", shape.str(), " and type ", dtype_name(dtype), " take");
    GRAFT_CHECK(total_ + need <= limits_.max_total_bytes, where, ": tensors total more than ",
                limits_.max_total_bytes, " bytes (ReadLimits::max_total_bytes)");
    FileSource ext((dir / rel).string());
    GRAFT_CHECK(offset <= ext.size() && need <= ext.size() - offset, where, ": external data ", quote(location),
                " has ", ext.size(), " bytes, too few for ", need, " at offset ", offset);
    std::vector<uint8_t> bytes(static_cast<size_t>(need));
    if (need) ext.read_at(offset, bytes.data(), bytes.size());
    if (!host_is_little_endian()) {
      const size_t k = itemsize(dtype);
      for (size_t i = 0; i + k <= bytes.size(); i += k) std::reverse(bytes.begin() + long(i), bytes.begin() + long(i + k));
    }
    t.data = Array(dtype, shape, std::move(bytes));
    t.external.clear();
    total_ += need;
  }

  const Source& src_;
  std::string folder_;
  const ReadLimits& limits_;
  pb::Reader r_;
  uint64_t total_ = 0;  // bytes of the tensors read so far
};

}  // namespace detail

// Reads an ONNX model from `src`; external data comes from `folder` (empty: refused).
inline OnnxModel read_onnx(const Source& src, const std::string& folder = "", const ReadLimits& limits = {}) {
  return detail::OnnxParser(src, folder, limits).run();
}
inline OnnxModel read_onnx(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  return read_onnx(src, folder.empty() ? std::string(".") : folder.string(), limits);
}

// ---- writing ----

namespace detail {

inline pb::Writer onnx_tensor_message(const OnnxTensor& t) {
  pb::Writer w;
  for (int i = 0; i < t.data.shape().rank(); ++i) w.int_field(1, t.data.shape()[i]);
  w.int_field(2, onnx_data_type(t.data.dtype()));
  w.string_field(8, t.name);
  if (host_is_little_endian()) {
    w.bytes_field(9, t.data.data(), t.data.nbytes());
  } else {
    std::vector<uint8_t> b(t.data.data(), t.data.data() + t.data.nbytes());
    const size_t k = itemsize(t.data.dtype());
    for (size_t i = 0; i + k <= b.size(); i += k) std::reverse(b.begin() + long(i), b.begin() + long(i + k));
    w.bytes_field(9, b.data(), b.size());
  }
  return w;
}

inline pb::Writer onnx_value_info_message(const OnnxValueInfo& v) {
  pb::Writer shape;
  for (size_t i = 0; i < v.dims.size(); ++i) {
    pb::Writer d;
    const std::string param = i < v.dim_params.size() ? v.dim_params[i] : "";
    if (!param.empty()) d.string_field(2, param);
    else d.int_field(1, v.dims[i]);
    shape.message_field(1, d);
  }
  pb::Writer tensor;
  tensor.int_field(1, v.elem_type);
  if (v.has_shape) tensor.message_field(2, shape);
  pb::Writer type;
  type.message_field(1, tensor);
  pb::Writer w;
  w.string_field(1, v.name);
  w.message_field(2, type);
  return w;
}

inline pb::Writer onnx_attribute_message(const OnnxAttribute& a) {
  pb::Writer w;
  w.string_field(1, a.name);
  switch (a.type) {
    case OnnxAttrType::f: w.float_field(2, a.f); break;
    case OnnxAttrType::i: w.int_field(3, a.i); break;
    case OnnxAttrType::s: w.string_field(4, a.s); break;
    case OnnxAttrType::tensor:
      GRAFT_CHECK(a.tensors.size() == 1, "onnx: attribute ", a.name, " of type tensor needs one tensor");
      w.message_field(5, onnx_tensor_message(a.tensors[0]));
      break;
    case OnnxAttrType::floats:
      for (float f : a.floats) w.float_field(7, f);
      break;
    case OnnxAttrType::ints:
      for (int64_t i : a.ints) w.int_field(8, i);
      break;
    default: GRAFT_FAIL("onnx: graft does not write attributes of type ", int(a.type), " (", a.name, ")");
  }
  w.int_field(20, int(a.type));
  return w;
}

}  // namespace detail

// The bytes of a ModelProto holding `m` (tensors as raw_data, inline).
inline std::string onnx_bytes(const OnnxModel& m) {
  pb::Writer graph;
  for (const auto& n : m.graph.nodes) {
    pb::Writer w;
    for (const auto& i : n.inputs) w.string_field(1, i);
    for (const auto& o : n.outputs) w.string_field(2, o);
    if (!n.name.empty()) w.string_field(3, n.name);
    w.string_field(4, n.op_type);
    for (const auto& a : n.attributes) w.message_field(5, detail::onnx_attribute_message(a));
    if (!n.domain.empty()) w.string_field(7, n.domain);
    graph.message_field(1, w);
  }
  graph.string_field(2, m.graph.name);
  for (const auto& t : m.graph.initializers) graph.message_field(5, detail::onnx_tensor_message(t));
  for (const auto& v : m.graph.inputs) graph.message_field(11, detail::onnx_value_info_message(v));
  for (const auto& v : m.graph.outputs) graph.message_field(12, detail::onnx_value_info_message(v));
  pb::Writer model;
  model.int_field(1, m.ir_version);
  if (!m.producer_name.empty()) model.string_field(2, m.producer_name);
  if (!m.producer_version.empty()) model.string_field(3, m.producer_version);
  model.message_field(7, graph);
  for (const auto& o : m.opsets) {
    pb::Writer w;
    if (!o.first.empty()) w.string_field(1, o.first);
    w.int_field(2, o.second);
    model.message_field(8, w);
  }
  for (const auto& kv : m.metadata) {
    pb::Writer w;
    w.string_field(1, kv.first);
    w.string_field(2, kv.second);
    model.message_field(14, w);
  }
  return model.bytes();
}

// Writes `m` to `path` (temporary file, then rename). ONNX's own limit on a model file
// without external data is 2 GiB (protobuf's); a larger one is refused.
inline void write_onnx(const std::string& path, const OnnxModel& m) {
  const std::string bytes = onnx_bytes(m);
  GRAFT_CHECK(bytes.size() < (uint64_t(1) << 31), path, ": the model takes ", bytes.size(),
              " bytes, beyond protobuf's 2 GiB limit for one file");
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace io
}  // namespace graft
