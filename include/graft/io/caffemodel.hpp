// Reading Caffe's binary .caffemodel (a protobuf NetParameter) without Caffe or libprotobuf.
//
// Only what weights need is read; everything else is skipped by wire type:
//   NetParameter      name 1, layers 2 (V1LayerParameter), layer 100 (LayerParameter)
//   V1LayerParameter  name 4, type 5 (enum, see caffe_types.hpp), blobs 6; field 1 holds a
//                     V0 layer (Caffe before 2014), which is refused with a hint to upgrade
//   LayerParameter    name 1, type 2 (string), blobs 7
//   BlobProto         num/channels/height/width 1-4, data 5 (float), double_data 8,
//                     shape 7 (BlobShape: dim 1, int64); diff 6 and double_diff 9 are skipped
// Repeated numbers are accepted packed (as Caffe writes them) or one per field, as protobuf
// requires of every reader. A blob's shape is Caffe's: the legacy 4-d dims when the file
// has them (V1 files), else `shape`; both present must agree. Blob values keep the file's
// layout (convolution OIHW, inner product (out, in) with inputs in C,H,W order) and type
// (float32, or float64 for double_data).
//
// Untrusted input: see protobuf.hpp; in addition the number of layers and blobs is bounded by
// ReadLimits, each blob's bytes by max_array_bytes and all of them by max_total_bytes, and a
// blob's values must be exactly as many as its shape says.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/caffe_types.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/npz.hpp"
#include "graft/io/protobuf.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {

struct CaffeBlob {
  Shape shape;          // as Caffe reads it (see above)
  bool legacy = false;  // the shape came from num/channels/height/width
  Array data;           // float32, or float64 for double_data; C order, host byte order
  uint64_t offset = 0;  // where the blob starts in the file
};

struct CaffeLayer {
  std::string name;
  std::string type;  // the V2 type name ("Convolution"), also for a V1 file
  std::vector<CaffeBlob> blobs;
  uint64_t offset = 0;
};

struct CaffeModel {
  std::string file;
  std::string name;  // NetParameter.name
  int format = 0;    // 1: V1 (`layers`, enum types), 2: V2 (`layer`)
  std::vector<CaffeLayer> layers;

  // The layer of that name with blobs, else the first of that name, else null. (A training
  // net may list data layers twice, once per phase; only layers with blobs matter here.)
  const CaffeLayer* find(const std::string& layer) const {
    const CaffeLayer* first = nullptr;
    for (const auto& l : layers)
      if (l.name == layer) {
        if (!l.blobs.empty()) return &l;
        if (!first) first = &l;
      }
    return first;
  }
};

namespace detail {

class CaffeModelParser {
 public:
  CaffeModelParser(const Source& src, const ReadLimits& limits)
      : src_(src), limits_(limits), r_(src, limits.max_nesting) {}

  CaffeModel run() {
    try {
      return parse();
    } catch (const Error&) {
      refuse_text();  // a .prototxt given for the .caffemodel: say so rather than name a wire type
      throw;
    }
  }

 private:
  CaffeModel parse() {
    CaffeModel m;
    m.file = src_.name();
    pb::Field f;
    bool v1 = false, v2 = false;
    while (r_.next(f)) {
      if (f.number == 1) {
        m.name = r_.bytes(f, limits_.max_name_bytes, "the net's name");
      } else if (f.number == 2 || f.number == 100) {
        (f.number == 2 ? v1 : v2) = true;
        if (v1 && v2)
          r_.fail_at(f.offset, "the file mixes V1 layers (field 2) and V2 layers (field 100); Caffe refuses such a net too");
        if (m.layers.size() >= limits_.max_layers)
          r_.fail_at(f.offset, "more than ", limits_.max_layers, " layers (ReadLimits::max_layers)");
        m.layers.push_back(layer(f, f.number == 2, m.layers.size()));
      }
      // Other NetParameter fields (inputs, state, ...) are not weights: skipped.
    }
    if (m.layers.empty())
      GRAFT_FAIL(src_.name(), ": holds no Caffe layers (", src_.size(),
                 " bytes; is it a .caffemodel, not a .prototxt or a solver state?)");
    m.format = v1 ? 1 : 2;
    return m;
  }

  // Called when the file did not read as a model: text that starts as protobuf text does
  // (comments, then `name:` or `name {`) is named as such.
  void refuse_text() const {
    unsigned char head[64];
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, src_.size()));
    src_.read_at(0, head, n);
    for (size_t i = 0; i < n; ++i)
      if (!(head[i] == '\t' || head[i] == '\n' || head[i] == '\r' || (head[i] >= 0x20 && head[i] < 0x7f))) return;
    size_t i = 0;
    for (;;) {
      while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r')) ++i;
      if (i < n && head[i] == '#') {
        while (i < n && head[i] != '\n') ++i;
        continue;
      }
      break;
    }
    auto name_char = [&](size_t k, bool first) {
      const unsigned char c = head[k];
      return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
    };
    if (i >= n || !name_char(i, true)) return;
    while (i < n && name_char(i, false)) ++i;
    while (i < n && head[i] == ' ') ++i;
    if (i < n && (head[i] == ':' || head[i] == '{'))
      GRAFT_FAIL(src_.name(), ": starts with text (", quote(std::string(head, head + std::min<size_t>(n, 24))),
                 "), not a binary .caffemodel; is it the .prototxt?");
  }

  std::string where(size_t index, const std::string& name) const {
    return "layer " + std::to_string(index) + (name.empty() ? "" : " " + quote(name));
  }

  CaffeLayer layer(const pb::Field& f, bool v1, size_t index) {
    CaffeLayer l;
    l.offset = f.offset;
    r_.enter(f, where(index, ""));
    pb::Field g;
    while (r_.next(g)) {
      const uint32_t name_field = v1 ? 4 : 1, type_field = v1 ? 5 : 2, blobs_field = v1 ? 6 : 7;
      if (g.number == name_field) {
        l.name = r_.bytes(g, limits_.max_name_bytes, where(index, l.name) + " name");
      } else if (g.number == type_field) {
        if (v1) {
          r_.expect(g, pb::Wire::varint, where(index, l.name) + " type");
          l.type = caffe::v1_type_name(g.value);
          if (l.type.empty()) l.type = "V1 type " + std::to_string(g.value);
        } else {
          l.type = r_.bytes(g, limits_.max_name_bytes, where(index, l.name) + " type");
        }
      } else if (g.number == blobs_field) {
        if (l.blobs.size() >= limits_.max_blobs)
          r_.fail_at(g.offset, where(index, l.name), " has more than ", limits_.max_blobs,
                     " blobs (ReadLimits::max_blobs)");
        l.blobs.push_back(blob(g, where(index, l.name) + " blob " + std::to_string(l.blobs.size())));
      } else if (v1 && g.number == 1) {
        r_.fail_at(g.offset, where(index, l.name),
                   " is in Caffe's V0 format (before 2014); upgrade it with Caffe's upgrade_net_proto_binary");
      }
    }
    r_.leave();
    return l;
  }

  // Appends a packed (len) or single (fixed) run of `size`-byte numbers to `out`.
  void numbers(const pb::Field& f, size_t size, std::vector<uint8_t>& out, const std::string& what) {
    const pb::Wire single = size == 4 ? pb::Wire::fixed32 : pb::Wire::fixed64;
    const uint64_t n = f.wire == pb::Wire::len ? f.value : size;
    if (f.wire != pb::Wire::len) r_.expect(f, single, what);
    if (f.wire == pb::Wire::len && f.value % size != 0)
      r_.fail_at(f.offset, what, ": ", f.value, " bytes of packed ", size == 4 ? "float" : "double",
                 " values is not a multiple of ", size);
    if (out.size() + n > limits_.max_array_bytes)
      r_.fail_at(f.offset, what, ": more than ", limits_.max_array_bytes, " bytes (ReadLimits::max_array_bytes)");
    if (total_ + n > limits_.max_total_bytes)
      r_.fail_at(f.offset, what, ": blobs total more than ", limits_.max_total_bytes,
                 " bytes (ReadLimits::max_total_bytes)");
    total_ += n;
    if (f.wire == pb::Wire::len) {
      r_.append_payload(f, out, what);
    } else {
      for (size_t i = 0; i < size; ++i) out.push_back(static_cast<uint8_t>(f.value >> (8 * i)));
    }
  }

  CaffeBlob blob(const pb::Field& f, const std::string& what) {
    CaffeBlob b;
    b.offset = f.offset;
    r_.enter(f, what);
    int64_t legacy[4] = {0, 0, 0, 0};
    bool has_legacy = false, has_shape = false;
    std::vector<int64_t> dims;
    std::vector<uint8_t> floats, doubles;
    static const char* legacy_names[4] = {"num", "channels", "height", "width"};
    pb::Field g;
    while (r_.next(g)) {
      switch (g.number) {
        case 1: case 2: case 3: case 4: {
          const std::string field = what + " " + legacy_names[g.number - 1];
          r_.expect(g, pb::Wire::varint, field);
          const int64_t v = static_cast<int64_t>(g.value);  // int32/int64 varints sign-extend
          if (v < 0) r_.fail_at(g.offset, field, " is negative (", v, ")");
          legacy[g.number - 1] = v;
          has_legacy = true;
          break;
        }
        case 5: numbers(g, 4, floats, what + " data"); break;
        case 8: numbers(g, 8, doubles, what + " double_data"); break;
        case 7: {
          has_shape = true;
          r_.enter(g, what + " shape");
          pb::Field d;
          while (r_.next(d)) {
            if (d.number != 1) continue;
            auto add = [&](uint64_t v) {
              if (static_cast<int64_t>(v) < 0)
                r_.fail_at(d.offset, what, " shape has a negative dimension (", static_cast<int64_t>(v), ")");
              if (dims.size() >= size_t(Shape::kMaxRank))
                r_.fail_at(d.offset, what, " shape has more than ", Shape::kMaxRank, " dimensions");
              dims.push_back(static_cast<int64_t>(v));
            };
            if (d.wire == pb::Wire::len)
              r_.packed_varints(d, what + " shape", add);
            else if (d.wire == pb::Wire::varint)
              add(d.value);
            else
              r_.expect(d, pb::Wire::varint, what + " shape dim");
          }
          r_.leave();
          break;
        }
        default: break;  // diff (6), double_diff (9), fields of later versions: skipped
      }
    }
    r_.leave();

    if (!floats.empty() && !doubles.empty())
      r_.fail_at(b.offset, what, " has both float data and double_data");
    const bool is_double = !doubles.empty();
    std::vector<uint8_t>& bytes = is_double ? doubles : floats;
    const DType dtype = is_double ? DType::f8 : DType::f4;
    const size_t size = is_double ? 8 : 4;
    if (!host_is_little_endian()) swap_bytes(bytes.data(), bytes.size() / size, size);
    try {
      const Shape from_shape(dims);
      if (has_legacy) {
        b.shape = Shape{legacy[0], legacy[1], legacy[2], legacy[3]};
        b.legacy = true;
        if (has_shape) {
          if (!same_but_leading_ones(from_shape, b.shape))
            r_.fail_at(b.offset, what, " has shape ", from_shape.str(), " and num/channels/height/width ",
                       b.shape.str(), ", which disagree");
          b.shape = from_shape;
          b.legacy = false;
        }
      } else {
        b.shape = from_shape;  // no dims at all: Caffe's scalar, shape ()
      }
    } catch (const Error& e) {
      const std::string m = e.what();
      if (m.compare(0, src_.name().size(), src_.name()) == 0) throw;
      r_.fail_at(b.offset, what, ": ", m);
    }
    const uint64_t values = bytes.size() / size;
    if (uint64_t(b.shape.numel()) != values)
      r_.fail_at(b.offset, what, " holds ", values, " values, but its shape ", b.shape.str(), " needs ",
                 b.shape.numel());
    b.data = Array(dtype, b.shape, std::move(bytes));
    return b;
  }

  const Source& src_;
  const ReadLimits& limits_;
  pb::Reader r_;
  uint64_t total_ = 0;
};

}  // namespace detail

inline CaffeModel read_caffemodel(const Source& src, const ReadLimits& limits = {}) {
  return detail::CaffeModelParser(src, limits).run();
}

inline CaffeModel read_caffemodel(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return read_caffemodel(src, limits);
}

// Every blob as a named array, "layer/0", "layer/1", ... in file order (what graft-inspect
// lists). The model's arrays are moved out.
inline std::vector<NamedArray> caffemodel_arrays(CaffeModel&& m) {
  std::vector<NamedArray> out;
  for (auto& l : m.layers)
    for (size_t i = 0; i < l.blobs.size(); ++i) out.push_back({l.name + "/" + std::to_string(i), std::move(l.blobs[i].data)});
  return out;
}

// True when `path` names a .caffemodel (by its extension; protobuf has no magic number).
inline bool is_caffemodel_path(const std::string& path) {
  const std::string ext = ".caffemodel";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

}  // namespace io
}  // namespace graft
