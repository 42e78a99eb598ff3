// WeightsDict: named parameter arrays by layer, in file order — what a caffe-tensorflow
// file holds ({layer: {param: ndarray}}) — and reading and writing it as
//   - a caffe-tensorflow file: NPY with descr '|O', shape (), a pickled 0-d object array
//     holding the dict (Python 2 protocol 2 or Python 3 protocol 3+ when read; protocol 3
//     when written), and
//   - an .npz whose keys are "layer/param".
// Arrays stay as the file has them (dtype and caffe-tensorflow layout: conv HWIO, fully
// connected (in, out)); graft/nn/load_weights.hpp converts them for a network.
//
// read_arrays() lists every array of any .npy / .npz / caffe-tensorflow file by name; it is
// what graft-inspect shows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/io/array.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/npy.hpp"
#include "graft/io/npz.hpp"
#include "graft/io/pickle.hpp"
#include "graft/io/pickle_writer.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {

class WeightsDict {
 public:
  struct Param {
    std::string name;  // "weights", "biases", "alpha", ...
    Array array;
  };
  struct Layer {
    std::string name;
    std::vector<Param> params;
    const Param* find(const std::string& param) const {
      for (const auto& p : params)
        if (p.name == param) return &p;
      return nullptr;
    }
  };

  // Adds layer/param (the layer is created on first use, after the others).
  Array& add(const std::string& layer, const std::string& param, Array a) {
    GRAFT_CHECK(!layer.empty() && !param.empty(), "weights: empty layer or parameter name (",
                quote(layer), "/", quote(param), ")");
    auto it = index_.find(layer);
    if (it == index_.end()) {
      it = index_.emplace(layer, layers_.size()).first;
      layers_.push_back(Layer{layer, {}});
    }
    Layer& l = layers_[it->second];
    GRAFT_CHECK(!l.find(param), "weights: ", quote(layer), "/", quote(param), " appears twice");
    l.params.push_back(Param{param, std::move(a)});
    return l.params.back().array;
  }
  // Adds a layer with no parameters yet (kept so that an empty entry in a file is listed).
  void add_layer(const std::string& layer) {
    if (!index_.count(layer)) {
      index_.emplace(layer, layers_.size());
      layers_.push_back(Layer{layer, {}});
    }
  }

  const std::vector<Layer>& layers() const { return layers_; }
  const Layer* find(const std::string& layer) const {
    auto it = index_.find(layer);
    return it == index_.end() ? nullptr : &layers_[it->second];
  }
  const Array* find(const std::string& layer, const std::string& param) const {
    const Layer* l = find(layer);
    const Param* p = l ? l->find(param) : nullptr;
    return p ? &p->array : nullptr;
  }
  const Array& at(const std::string& layer, const std::string& param) const {
    const Array* a = find(layer, param);
    GRAFT_CHECK(a, "weights: no ", quote(layer), "/", quote(param));
    return *a;
  }
  // A parameter as a host tensor of T, converted from the file's dtype.
  template <class T>
  Tensor<T> tensor(const std::string& layer, const std::string& param) const {
    return at(layer, param).to_tensor<T>(Cast::convert, layer + "/" + param);
  }
  size_t array_count() const {
    size_t n = 0;
    for (const auto& l : layers_) n += l.params.size();
    return n;
  }
  bool empty() const { return layers_.empty(); }
  // Hands the layers over (the dict is left empty).
  std::vector<Layer> release() {
    index_.clear();
    return std::move(layers_);
  }

 private:
  std::vector<Layer> layers_;
  std::map<std::string, size_t> index_;
};

namespace detail {

// A dict key as a name: text as it is, Python 2 bytes as Latin-1 (np.load(encoding='latin1')).
inline std::string key_name(pickle::Unpickler& u, uint32_t id, const ReadLimits& limits, const char* what) {
  const pickle::Node& n = u.node(id);
  if (n.kind != pickle::Kind::text && n.kind != pickle::Kind::bytes)
    u.fail_at(n.offset, what, " name is a ", pickle::kind_name(n.kind), ", expected a string");
  const std::string raw = u.str(n);
  if (raw.size() > limits.max_name_bytes || raw.empty())
    u.fail_at(n.offset, what, " name is empty or longer than ", limits.max_name_bytes, " bytes");
  return n.kind == pickle::Kind::text ? raw : latin1_to_utf8(raw);
}

// The dict inside the pickled 0-d object array, as a WeightsDict.
inline WeightsDict weights_from_pickle(pickle::Unpickler& u, uint32_t root, const ReadLimits& limits) {
  using pickle::Kind;
  const pickle::Node& top = u.node(root);
  if (top.kind != Kind::array || !u.array(top).built || !u.array(top).object)
    u.fail_at(top.offset, "the pickle holds a ", pickle::kind_name(top.kind),
              ", expected the 0-d object array that np.save writes for a dict");
  const pickle::ArrayObject& box = u.array(top);
  if (box.shape.rank() != 0 || box.elements.size() != 1)
    u.fail_at(top.offset, "object array of shape ", box.shape.str(), ", expected () holding one dict");
  const uint32_t dict_id = box.elements[0];
  const pickle::Node& dict = u.node(dict_id);
  if (dict.kind != Kind::dict)
    u.fail_at(dict.offset, "the object array holds a ", pickle::kind_name(dict.kind),
              ", expected a dict {layer: {param: array}}");
  WeightsDict out;
  uint64_t total = 0;
  const std::vector<uint32_t> pairs = dict.items;  // copied: take_array() touches the arena
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    const std::string layer = key_name(u, pairs[i], limits, "layer");
    const pickle::Node& v = u.node(pairs[i + 1]);
    if (out.find(layer)) u.fail_at(u.node(pairs[i]).offset, "layer ", quote(layer), " appears twice");
    out.add_layer(layer);
    auto add = [&](const std::string& param, uint32_t id) {
      const std::string what = "layer " + quote(layer) + " parameter " + quote(param);
      if (u.node(id).kind != Kind::array)
        u.fail_at(u.node(id).offset, what, " is a ", pickle::kind_name(u.node(id).kind), ", expected an array");
      if (out.find(layer, param)) u.fail_at(u.node(id).offset, what, " appears twice");
      Array a = u.take_array(id, what);
      total += a.nbytes();
      if (total > limits.max_total_bytes)
        u.fail_at(u.node(id).offset, "arrays total more than ", limits.max_total_bytes, " bytes (ReadLimits::max_total_bytes)");
      out.add(layer, param, std::move(a));
    };
    if (v.kind == Kind::dict) {
      const std::vector<uint32_t> params = v.items;
      for (size_t k = 0; k + 1 < params.size(); k += 2)
        add(key_name(u, params[k], limits, "parameter"), params[k + 1]);
    } else if (v.kind == Kind::list || v.kind == Kind::tuple) {
      // Early caffe-tensorflow versions stored [weights, biases].
      const std::vector<uint32_t> items = v.items;
      if (items.size() > 2)
        u.fail_at(v.offset, "layer ", quote(layer), " holds a list of ", items.size(), " items, expected [weights, biases]");
      static const char* names[] = {"weights", "biases"};
      for (size_t k = 0; k < items.size(); ++k) add(names[k], items[k]);
    } else {
      u.fail_at(v.offset, "layer ", quote(layer), " holds a ", pickle::kind_name(v.kind), ", expected a dict of arrays");
    }
  }
  return out;
}

// "layer/param" split at the last '/'.
inline std::pair<std::string, std::string> split_key(const std::string& source, const std::string& key) {
  const size_t slash = key.rfind('/');
  GRAFT_CHECK(slash != std::string::npos && slash > 0 && slash + 1 < key.size(), source, ": array ", quote(key),
              " is not named layer/param, so it is not part of a weights dict");
  return {key.substr(0, slash), key.substr(slash + 1)};
}

enum class FileKind { npy, npz };

inline FileKind sniff(const Source& src) {
  unsigned char head[6] = {};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(6, src.size()));
  src.read_at(0, head, n);
  if (n == 6 && std::memcmp(head, "\x93NUMPY", 6) == 0) return FileKind::npy;
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
    return FileKind::npz;
  GRAFT_FAIL(src.name(), ": not an .npy or .npz file (starts with ", hex_bytes(head, n), ")");
}

// The weights in an NPY caffe-tensorflow container, the input standing after its header.
inline WeightsDict read_pickled_weights(Input& in, const NpyHeader& h, const ReadLimits& limits) {
  if (!h.object)
    in.fail_at(0, "holds one plain ", dtype_name(h.dtype), " array of shape ", h.shape.str(),
               ", not a caffe-tensorflow weights dict (descr '|O')");
  if (h.shape.rank() != 0 || h.fortran_order)
    in.fail_at(0, "object array of shape ", h.shape.str(), ", expected shape () holding one dict");
  pickle::Unpickler u(in, limits);
  const uint32_t root = u.run();
  if (in.remaining() != 0) in.fail(in.remaining(), " bytes follow the pickle's STOP");
  return weights_from_pickle(u, root, limits);
}

}  // namespace detail

namespace detail {
// Runs f(); a graft::Error whose message does not start with the file's name gets it in front
// (messages about the dict itself, e.g. a name that appears twice, are made without it).
template <class F>
auto naming_file(const std::string& name, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.compare(0, name.size(), name) == 0) throw;
    throw Error(name + ": " + m);
  }
}
}  // namespace detail

// A weights dict from a caffe-tensorflow .npy or an .npz of "layer/param" arrays.
inline WeightsDict read_weights(const Source& src, const ReadLimits& limits = {}) {
  return detail::naming_file(src.name(), [&] {
    if (detail::sniff(src) == detail::FileKind::npz) {
      WeightsDict out;
      for (auto& a : read_npz(src, limits)) {
        auto lp = detail::split_key(src.name(), a.name);
        out.add(lp.first, lp.second, std::move(a.array));
      }
      return out;
    }
    RangeInput in(src);
    const NpyHeader h = read_npy_header(in, limits);
    return detail::read_pickled_weights(in, h, limits);
  });
}

inline WeightsDict read_weights(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return read_weights(src, limits);
}

namespace detail {
inline std::vector<NamedArray> read_any(const Source& src, const ReadLimits& limits) {
  if (sniff(src) == FileKind::npz) return read_npz(src, limits);
  RangeInput in(src);
  const NpyHeader h = read_npy_header(in, limits);
  std::vector<NamedArray> out;
  if (!h.object) {
    std::string stem = src.name().substr(src.name().find_last_of('/') + 1);
    if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".npy") == 0) stem.resize(stem.size() - 4);
    out.push_back({stem, read_npy_data(in, h, limits)});
    return out;
  }
  for (auto& l : read_pickled_weights(in, h, limits).release())
    for (auto& p : l.params) out.push_back({l.name + "/" + p.name, std::move(p.array)});
  return out;
}
}  // namespace detail

// Every array in an .npy (named after the file), .npz (its keys) or caffe-tensorflow file
// ("layer/param"), in file order.
inline std::vector<NamedArray> read_arrays(const Source& src, const ReadLimits& limits = {}) {
  return detail::naming_file(src.name(), [&] { return detail::read_any(src, limits); });
}

inline std::vector<NamedArray> read_arrays(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return read_arrays(src, limits);
}

// ---- writing ----

enum class WeightsFormat {
  by_extension,      // ".npz": npz (stored); anything else: caffe_tensorflow
  caffe_tensorflow,  // NPY '|O' holding the pickled dict (np.load(f, allow_pickle=True).item())
  npz,               // "layer/param" arrays, stored
  npz_compressed,    // "layer/param" arrays, deflated
};

// The caffe-tensorflow bytes of a dict into `out` (anything with write(const void*, size_t)).
template <class Out>
void write_caffe_tensorflow_bytes(Out& out, const WeightsDict& w) {
  for (const auto& l : w.layers()) {
    GRAFT_CHECK(valid_utf8(l.name), "layer name ", quote(l.name), " is not UTF-8");
    for (const auto& p : l.params) GRAFT_CHECK(valid_utf8(p.name), "parameter name ", quote(p.name), " is not UTF-8");
  }
  const std::string prefix = npy_prefix("|O", Shape{});
  out.write(prefix.data(), prefix.size());
  pickle::Writer<Out> p(out);
  p.proto();
  p.empty_ndarray();  // the 0-d object array ...
  p.mark();
  p.integer(1);
  p.shape(Shape{});
  p.dtype("O8", '|', 63);
  p.boolean(false);
  p.empty_list();     // ... whose one element is the dict
  p.empty_dict();
  p.mark();
  for (const auto& l : w.layers()) {
    p.text(l.name);
    p.empty_dict();
    p.mark();
    for (const auto& param : l.params) {
      p.text(param.name);
      p.ndarray(param.array);
    }
    p.setitems();
  }
  p.setitems();
  p.append();
  p.tuple();
  p.build();
  p.stop();
}

inline void write_caffe_tensorflow(const std::string& path, const WeightsDict& w) {
  AtomicFile f(path);
  try {
    write_caffe_tensorflow_bytes(f, w);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  f.commit();
}

inline void write_weights(const std::string& path, const WeightsDict& w,
                          WeightsFormat format = WeightsFormat::by_extension) {
  if (format == WeightsFormat::by_extension)
    format = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0 ? WeightsFormat::npz
                                                                               : WeightsFormat::caffe_tensorflow;
  if (format == WeightsFormat::caffe_tensorflow) {
    write_caffe_tensorflow(path, w);
    return;
  }
  NpzWriter z(path, format == WeightsFormat::npz_compressed ? Compression::deflated : Compression::stored);
  for (const auto& l : w.layers())
    for (const auto& p : l.params) {
      GRAFT_CHECK(p.name.find('/') == std::string::npos, path, ": parameter name ", quote(p.name),
                  " contains '/', which an .npz key layer/param cannot tell apart");
      z.add(l.name + "/" + p.name, p.array);
    }
  z.close();
}

}  // namespace io
}  // namespace graft
