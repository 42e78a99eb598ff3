// Writing dlib networks byte by byte, for the [dlib] tests and the fuzzer: the inverse of
// io::read_dlib, written from the format's description (io/dlib.hpp), not from dlib.
//
// A file is built as labelled pieces ("loss.version", "L3.params", "L3.state.x_grad", ...),
// so a test can cut the file at every piece boundary or replace one piece with a hostile
// one, and know what the error must say.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "graft/io/dlib.hpp"

namespace graft {
namespace dlibtest {

// dlib's integer: control byte (sign in bit 7, width in bits 3..0), then |v| little-endian
// in as few bytes as possible (0 takes one).
inline std::string integer(int64_t v) {
  const bool neg = v < 0;
  uint64_t m = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  std::string b;
  do {
    b += static_cast<char>(m & 0xff);
    m >>= 8;
  } while (m);
  return std::string(1, static_cast<char>((neg ? 0x80 : 0) | b.size())) + b;
}
inline std::string uinteger(uint64_t v) {
  std::string b;
  do {
    b += static_cast<char>(v & 0xff);
    v >>= 8;
  } while (v);
  return std::string(1, static_cast<char>(b.size())) + b;
}
inline std::string boolean(bool b) { return b ? "1" : "0"; }
inline std::string str(const std::string& s) { return uinteger(s.size()) + s; }
// float_details with `digits` mantissa bits (24 float, 53 double): mantissa then exponent,
// whole zero low bytes shifted off (at most 8 times), as dlib writes them.
inline std::string scalar(double v, int digits) {
  if (std::isinf(v)) return integer(0) + integer(v > 0 ? 32000 : 32001);
  if (std::isnan(v)) return integer(0) + integer(32002);
  int e = 0;
  int64_t m = static_cast<int64_t>(std::ldexp(std::frexp(v, &e), digits));
  int64_t x = e - digits;
  for (int i = 0; i < 8 && (m & 0xff) == 0; ++i) {
    m /= 256;  // exact: the low byte is zero
    x += 8;
  }
  return integer(m) + integer(x);
}
inline std::string dims(int64_t a, int64_t b, int64_t c, int64_t d) {
  return integer(a) + integer(b) + integer(c) + integer(d);
}
inline std::string tensor(int64_t a, int64_t b, int64_t c, int64_t d, const std::vector<float>& v) {
  std::string s = integer(2) + dims(a, b, c, d);
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) s += static_cast<char>((u >> (8 * i)) & 0xff);
  }
  return s;
}
inline std::string empty_tensor() { return tensor(0, 0, 0, 0, {}); }
inline std::string alias(int64_t a, int64_t b, int64_t c, int64_t d) { return integer(1) + dims(a, b, c, d); }

inline std::vector<float> floats(const io::Array& a) {
  std::vector<float> v(size_t(a.size()));
  if (!v.empty()) std::memcpy(v.data(), a.data(), v.size() * 4);
  return v;
}
inline std::vector<float> cat(std::vector<float> a, const std::vector<float>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Piece {
  std::string label;
  std::string bytes;
};

class File {
 public:
  std::vector<Piece> pieces;
  void add(std::string label, std::string bytes) { pieces.push_back({std::move(label), std::move(bytes)}); }
  std::string bytes() const {
    std::string s;
    for (const auto& p : pieces) s += p.bytes;
    return s;
  }
  // Offsets where pieces start (0 excluded) and the end: every place a cut leaves a whole prefix.
  std::vector<size_t> boundaries() const {
    std::vector<size_t> b;
    size_t at = 0;
    for (const auto& p : pieces) {
      if (at) b.push_back(at);
      at += p.bytes.size();
    }
    return b;
  }
  size_t offset_of(const std::string& label) const {
    size_t at = 0;
    for (const auto& p : pieces) {
      if (p.label == label) return at;
      at += p.bytes.size();
    }
    throw Error("dlib_files: no piece " + label);
  }
  // The file with piece `label` replaced.
  std::string with(const std::string& label, const std::string& bytes) const {
    std::string s;
    bool found = false;
    for (const auto& p : pieces) {
      if (p.label == label) found = true;
      s += p.label == label ? bytes : p.bytes;
    }
    if (!found) throw Error("dlib_files: no piece " + label);
    return s;
  }
};

// The layer record's details (after its version string).
inline void details(File& f, const std::string& at, const io::DlibLayer& l) {
  f.add(at + ".version", str(l.version));
  const auto w = floats(l.weights), b = floats(l.biases);
  switch (l.kind) {
    case io::DlibKind::con: {
      const int64_t fil = l.weights.size();
      f.add(at + ".params", tensor(fil + (l.bias ? l.outputs : 0), 1, 1, 1, cat(w, b)));
      f.add(at + ".num_filters", integer(l.outputs));
      f.add(at + ".nr", integer(l.rows) + integer(l.cols));
      f.add(at + ".stride", integer(l.stride_y) + integer(l.stride_x));
      f.add(at + ".pad", integer(l.pad_y) + integer(l.pad_x));
      f.add(at + ".filters", alias(l.outputs, l.inputs, l.rows, l.cols));
      f.add(at + ".biases", l.bias ? alias(1, l.outputs, 1, 1) : alias(0, 0, 0, 0));
      f.add(at + ".mults", scalar(1, 53) + scalar(1, 53) + scalar(1, 53) + scalar(0, 53));
      if (l.version == "con_5") f.add(at + ".use_bias", boolean(l.bias));
      break;
    }
    case io::DlibKind::affine:
      f.add(at + ".params", tensor(2 * l.outputs, 1, 1, 1, cat(w, b)));
      f.add(at + ".gamma", alias(1, l.outputs, 1, 1));
      f.add(at + ".beta", alias(1, l.outputs, 1, 1));
      f.add(at + ".mode", integer(l.mode));
      if (l.version == "affine_2") f.add(at + ".disabled", boolean(l.disabled));
      break;
    case io::DlibKind::max_pool:
    case io::DlibKind::avg_pool:
      f.add(at + ".nr", integer(l.rows) + integer(l.cols));
      f.add(at + ".stride", integer(l.stride_y) + integer(l.stride_x));
      f.add(at + ".pad", integer(l.pad_y) + integer(l.pad_x));
      break;
    case io::DlibKind::fc:
      f.add(at + ".num_outputs", uinteger(uint64_t(l.outputs)));
      f.add(at + ".num_inputs", uinteger(uint64_t(l.inputs)));
      f.add(at + ".params", tensor(l.inputs + (l.bias ? 1 : 0), l.outputs, 1, 1, cat(w, b)));
      f.add(at + ".weights", alias(l.inputs, l.outputs, 1, 1));
      f.add(at + ".biases", l.bias ? alias(1, l.outputs, 1, 1) : alias(0, 0, 0, 0));
      f.add(at + ".bias_mode", integer(l.bias ? 0 : 1));
      f.add(at + ".mults", scalar(1, 53) + scalar(1, 53) + scalar(1, 53) + scalar(0, 53));
      if (l.version == "fc_3") f.add(at + ".use_bias", boolean(l.bias));
      break;
    default:
      break;
  }
}

inline void state(File& f, const std::string& at, bool bottom) {
  f.add(at + ".state.bools", "110");
  f.add(at + ".state.x_grad", empty_tensor());
  f.add(at + ".state.cached_output", empty_tensor());
  f.add(at + ".state.grad", empty_tensor());
  if (bottom) f.add(at + ".state.sample_expansion_factor", uinteger(1));
}

// The file dlib would write for `net` (tags and skips as 01 01). Layer labels are L<index>.
inline File encode(const io::DlibNet& net) {
  File f;
  f.add("loss.version", integer(1));
  f.add("loss.name", str(net.loss));
  if (net.loss == "loss_metric_2") f.add("loss.fields", scalar(float(net.margin), 24) + scalar(float(net.dist_thresh), 24));
  if (net.layers.empty() || net.layers[0].kind == io::DlibKind::tag)
    throw Error("dlib_files: the bottom layer must be a layer, not a tag");
  for (size_t i = net.layers.size(); i-- > 1;)
    f.add("wrapper." + std::to_string(i), integer(net.layers[i].kind == io::DlibKind::tag ? 1 : 2));
  f.add("wrapper.0", integer(3));
  f.add("input.name", str(net.input));
  f.add("input.means", scalar(net.mean[0], 24) + scalar(net.mean[1], 24) + scalar(net.mean[2], 24));
  if (net.input == "input_rgb_image_sized") f.add("input.size", uinteger(net.rows) + uinteger(net.cols));
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const io::DlibLayer& l = net.layers[i];
    if (l.kind == io::DlibKind::tag) continue;
    const std::string at = "L" + std::to_string(i);
    details(f, at, l);
    state(f, at, i == 0);
  }
  return f;
}

inline io::Array array(const Shape& s, float start, float step) {
  io::Array a(io::DType::f4, s);
  float* p = reinterpret_cast<float*>(a.data());
  for (int64_t i = 0; i < a.size(); ++i) p[i] = start + step * float(i % 97) - 0.37f * float(i % 5);
  return a;
}

inline io::DlibLayer con(const char* version, int64_t out, int64_t in, int k, int s, int p, bool bias) {
  io::DlibLayer l;
  l.kind = io::DlibKind::con;
  l.version = version;
  l.outputs = out;
  l.inputs = in;
  l.rows = l.cols = k;
  l.stride_y = l.stride_x = s;
  l.pad_y = l.pad_x = p;
  l.bias = bias;
  l.weights = array(Shape{out, in, k, k}, -0.5f, 0.01f);
  if (bias) l.biases = array(Shape{out}, 0.1f, 0.02f);
  return l;
}
inline io::DlibLayer affine(const char* version, int64_t c) {
  io::DlibLayer l;
  l.kind = io::DlibKind::affine;
  l.version = version;
  l.outputs = c;
  l.weights = array(Shape{c}, 0.5f, 0.1f);
  l.biases = array(Shape{c}, -0.2f, 0.05f);
  return l;
}
inline io::DlibLayer simple(io::DlibKind k, const char* version) {
  io::DlibLayer l;
  l.kind = k;
  l.version = version;
  return l;
}
inline io::DlibLayer pool(io::DlibKind k, int r, int s, int p) {
  io::DlibLayer l = simple(k, k == io::DlibKind::max_pool ? "max_pool_2" : "avg_pool_2");
  l.rows = l.cols = r;
  l.stride_y = l.stride_x = s;
  l.pad_y = l.pad_x = p;
  return l;
}
inline io::DlibLayer fc(const char* version, int64_t out, int64_t in, bool bias) {
  io::DlibLayer l;
  l.kind = io::DlibKind::fc;
  l.version = version;
  l.outputs = out;
  l.inputs = in;
  l.bias = bias;
  l.weights = array(Shape{in, out}, 0.3f, -0.01f);
  if (bias) l.biases = array(Shape{out}, 0.0f, 0.1f);
  return l;
}

// A small net with every record kind and both spellings of each version: 8x8 RGB in, a
// strided con, affine, relu, max pool, a tag and a residual branch closed by add_prev, two
// avg pools (2x2 and the whole input), fc with and without bias.
inline io::DlibNet small_net() {
  using K = io::DlibKind;
  io::DlibNet n;
  n.file = "small.dat";
  n.loss = "loss_metric_2";
  n.margin = 0.04f;
  n.dist_thresh = 0.6f;
  n.input = "input_rgb_image_sized";
  n.mean[0] = 122.782f;
  n.mean[1] = 117.001f;
  n.mean[2] = 104.298f;
  n.rows = n.cols = 8;
  n.layers.push_back(con("con_4", 2, 3, 3, 2, 0, true));
  n.layers.push_back(affine("affine_", 2));
  n.layers.push_back(simple(K::relu, "relu_"));
  n.layers.push_back(pool(K::max_pool, 2, 1, 1));
  n.layers.push_back(simple(K::tag, ""));
  n.layers.push_back(con("con_5", 3, 2, 3, 1, 1, false));
  n.layers.push_back(affine("affine_2", 3));
  n.layers.push_back(simple(K::add_prev, "add_prev_"));
  n.layers.push_back(pool(K::avg_pool, 2, 2, 0));
  n.layers.push_back(pool(K::avg_pool, 0, 1, 0));
  n.layers.push_back(fc("fc_3", 4, 3, true));
  n.layers.push_back(fc("fc_2", 2, 4, false));
  for (const auto& l : n.layers) n.float_count += uint64_t(l.weights.size() + l.biases.size());
  return n;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw Error(path + ": cannot write");
}

struct BadFile {
  std::string name;
  std::string bytes;
  std::string expect;  // a fragment of the error message
};

// Hostile and malformed variants of small_net(): each must be refused with `expect` in the
// message (the offsets of the pieces in the messages are checked by the tests where useful).
inline std::vector<BadFile> malformed() {
  const File f = encode(small_net());
  const std::string ok = f.bytes();
  auto at = [&](const std::string& label) { return std::to_string(f.offset_of(label)); };
  std::vector<BadFile> v;
  v.push_back({"empty.dat", "", "empty file"});
  v.push_back({"loss_version.dat", f.with("loss.version", integer(2)), "offset 0: the loss layer's version is 2"});
  v.push_back({"loss_name.dat", f.with("loss.name", str("loss_mmod_")), "'loss_mmod_' is not one graft reads"});
  v.push_back({"huge_string.dat", f.with("loss.name", uinteger(uint64_t(1) << 62) + "loss_metric_2"),
               "offset 2: the loss layer's name: a string of 4611686018427387904 bytes, but only"});
  v.push_back({"reserved_bits.dat", f.with("loss.version", std::string("\x11\x01", 2)), "reserved bits set"});
  v.push_back({"width_zero.dat", f.with("loss.version", std::string("\x00", 1)), "says 0 bytes"});
  v.push_back({"int_too_wide.dat", f.with("loss.version", std::string("\x05\x01\x00\x00\x00\x00", 6)),
               "a 32-bit integer takes 1..4"});
  v.push_back({"int_overflow.dat", f.with("loss.version", std::string("\x04\x00\x00\x00\x80", 5)),
               "2147483648 does not fit in a 32-bit integer"});
  v.push_back({"negative_length.dat", f.with("loss.name", std::string("\x81\x0d", 2) + "loss_metric_2"),
               "negative value for an unsigned field"});
  v.push_back({"ascii_float.dat", f.with("loss.fields", "0.04 0.6 "), "old text format"});
  v.push_back({"wrapper_version.dat", f.with("wrapper.5", integer(5)), "offset " + at("wrapper.5") + ": layer wrapper"});
  v.push_back({"no_bottom.dat", f.with("wrapper.0", integer(2)), "has version 21"});  // the input name's length
  v.push_back({"input_name.dat", f.with("input.name", str("input_grayscale_image")), "'input_grayscale_image' is not one"});
  v.push_back({"input_mean_nan.dat", f.with("input.means", scalar(NAN, 24) + scalar(1, 24) + scalar(1, 24)),
               "avg_red is nan, not a pixel mean"});
  v.push_back({"input_size.dat", f.with("input.size", uinteger(0) + uinteger(8)), "input size 0 x 8"});
  v.push_back({"layer_unknown.dat", f.with("L2.version", str("prelu_")), "'prelu_' is not one graft reads"});
  v.push_back({"layer_bn.dat", f.with("L1.version", str("bn_con2")), "batch normalisation"});
  v.push_back({"tensor_version.dat", f.with("L0.params", integer(3) + dims(0, 0, 0, 0)), "tensor version 3, expected 2"});
  v.push_back({"tensor_huge.dat", f.with("L0.params", integer(2) + dims(int64_t(1) << 40, 1 << 20, 1, 1)),
               "has more than 2^40 elements"});
  v.push_back({"tensor_overflow.dat",
               f.with("L0.params", integer(2) + dims(int64_t(1) << 62, int64_t(1) << 62, 4, 1)),
               "has more than 2^40 elements"});
  v.push_back({"tensor_past_end.dat", f.with("L0.params", integer(2) + dims(1 << 28, 1, 1, 1)),
               "needs 1073741824 bytes, but only"});
  v.push_back({"tensor_negative.dat", f.with("L0.params", integer(2) + integer(-1) + integer(1) + integer(1) + integer(1)),
               "dimension 0 is negative"});
  v.push_back({"params_count.dat", f.with("L0.num_filters", integer(3)), "filters (2, 3, 3, 3) disagree with num_filters 3"});
  v.push_back({"alias_version.dat", f.with("L0.filters", integer(2) + dims(2, 3, 3, 3)), "alias_tensor version 2"});
  v.push_back({"stride_zero.dat", f.with("L0.stride", integer(0) + integer(2)), "con stride_y is 0, outside 1..4096"});
  v.push_back({"pad_too_big.dat", f.with("L0.pad", integer(3) + integer(0)), "con padding_y is 3, outside 0..2"});
  v.push_back({"bool_byte.dat", f.with("L0.state.bools", "1x0"), "a bool is '0' or '1', found byte 0x78"});
  v.push_back({"state_tensor_past_end.dat", f.with("L0.state.cached_output", integer(2) + dims(1, 1 << 20, 1, 1)),
               "cached_output: tensor (1, 1048576, 1, 1) needs"});
  v.push_back({"expansion.dat", f.with("L0.state.sample_expansion_factor", uinteger(2)), "sample_expansion_factor is 2"});
  v.push_back({"affine_mode.dat", f.with("L1.mode", integer(7)), "affine mode is 7, outside 0..1"});
  v.push_back({"affine_params.dat", f.with("L1.gamma", alias(1, 3, 1, 1)), "differ or are empty"});
  v.push_back({"pool_window.dat", f.with("L9.nr", integer(0) + integer(2)), "0 x 0 means the whole input"});
  v.push_back({"fc_weights.dat", f.with("L11.weights", alias(4, 3, 1, 1)), "weights (4, 3, 1, 1), expected (4, 2, 1, 1)"});
  v.push_back({"fc_bias_mode.dat", f.with("L11.bias_mode", integer(0)), "disagree with bias_mode 0"});
  v.push_back({"trailing.dat", ok + std::string("\x01\x00", 2), "2 bytes follow the last record"});
  v.push_back({"trailing_one.dat", ok + "x", "1 bytes follow the last record"});
  // A net of only wrapper ints: each 2 bytes, never a bottom; ends in "needs 1 byte".
  std::string deep = integer(1) + str("loss_metric_");
  for (int i = 0; i < 5000; ++i) deep += integer(i % 2 ? 1 : 2);
  v.push_back({"deep.dat", deep, "a layer wrapper's version needs 1 byte, but only 0 are left"});
  // Every whole-piece prefix of the valid file is a truncation.
  for (size_t cut : f.boundaries()) v.push_back({"cut_" + std::to_string(cut) + ".dat", ok.substr(0, cut), "offset "});
  return v;
}

}  // namespace dlibtest
}  // namespace graft
