// Reading a network saved by dlib's `serialize(net, out)` (a .dat such as
// dlib_face_recognition_resnet_model_v1.dat) without dlib.
//
// dlib's format (dlib/serialize.h, dlib/dnn/core.h), as far as graft reads it:
//   integer   control byte (bit 7: negative, bits 6..4: zero, bits 3..0: n in 1..8), then n
//             bytes of |value|, little-endian. 0 is 01 00.
//   bool      one ASCII byte, '0' or '1'.
//   string    unsigned length (integer), then the bytes.
//   scalar    float/double as "float_details": int64 mantissa, then int16 exponent
//   float     (value = mantissa * 2^exponent; exponents 32000..32002 are +inf, -inf, NaN).
//   tensor    int version 2, four int64 dims (n, k, nr, nc), then n*k*nr*nc float32 LE.
//   alias     int version 1, four int64 dims (a view into a tensor; no data).
// A net is nested wrappers, each writing its version and then its subnet before its own
// details, so the file holds the loss record, then one version int per wrapper from the
// output down (2: add_layer, 1: tag or skip, 3: the add_layer over the input layer), then
// the input record, then each layer's details in forward order (input to output), each
// add_layer's followed by its state (3 bools, 3 tensors, and for the bottom one a uint).
// Tags and skips write only their version: the file does not say which is which, nor which
// tag an add_prev reads. That comes from the C++ type, so a caller that knows the
// architecture checks the sequence with check_dlib_layers().
//
// The walk is not recursive (the wrapper ints are read into a list, then the details in
// forward order), so a deep hostile file costs no stack. Untrusted input: every integer's
// width is checked against its C++ type, every string, tensor and skipped state tensor
// against the bytes left (the element-count product checked for overflow) before anything
// is allocated, the number of wrappers is bounded by ReadLimits::max_layers, arrays by
// max_array_bytes and max_total_bytes, and the file must end right after the last record.
// Errors read "file: offset N: what", with names from the file quoted.
//
// Versions read: con_4 and con_5 (adds use_bias), affine_ and affine_2 (adds disabled),
// fc_2 and fc_3 (adds use_bias), relu_, add_prev_, max_pool_2, avg_pool_2, loss_metric_ and
// loss_metric_2, input_rgb_image_sized and input_rgb_image; add_layer versions 2 and 3
// (bottom). Older add_layer versions (1, which a tag's 1 could not be told from) and the
// old ASCII float format are refused, naming what was found.
//
// The result is neutral: the loss, the input (means, size) and the layer records in
// forward order with their geometry and float arrays as the file holds them (conv OIHW;
// fc weights (in, out), dlib's order). What those mean to a graft network is nn/dlib_face.hpp's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {

enum class DlibKind { tag, con, affine, relu, add_prev, max_pool, avg_pool, fc };

inline const char* dlib_kind_name(DlibKind k) {
  switch (k) {
    case DlibKind::tag: return "tag/skip";
    case DlibKind::con: return "con";
    case DlibKind::affine: return "affine";
    case DlibKind::relu: return "relu";
    case DlibKind::add_prev: return "add_prev";
    case DlibKind::max_pool: return "max_pool";
    case DlibKind::avg_pool: return "avg_pool";
    case DlibKind::fc: return "fc";
  }
  return "?";
}

// One record in forward order. Fields a kind does not have stay 0 / empty.
struct DlibLayer {
  DlibKind kind = DlibKind::tag;
  std::string version;  // as the file spells it: "con_4", "affine_2", ... ("" for a tag/skip)
  uint64_t offset = 0;  // where the record (its version string; a tag's wrapper int) starts
  // con: num_filters; fc: num_outputs; affine: channels
  int64_t outputs = 0;
  int64_t inputs = 0;        // con: input channels; fc: num_inputs
  int64_t rows = 0, cols = 0;  // con / pool window (pool 0 x 0: the whole input)
  int64_t stride_y = 0, stride_x = 0, pad_y = 0, pad_x = 0;
  bool bias = false;      // con / fc: biases are used
  int64_t mode = 0;       // affine: 0 per channel (CONV_MODE), 1 per element (FC_MODE)
  bool disabled = false;  // affine_2: the layer is an identity
  Array weights;          // con (O, I, kh, kw); affine gamma (C); fc (in, out) -- float32
  Array biases;           // con (O); affine beta (C); fc (out); empty without bias
};

struct DlibNet {
  std::string file;
  std::string loss;  // "loss_metric_2"
  double margin = 0, dist_thresh = 0;
  std::string input;  // "input_rgb_image_sized"
  float mean[3] = {0, 0, 0};  // R, G, B
  uint64_t rows = 0, cols = 0;  // the input size (0: any, for input_rgb_image)
  uint64_t input_offset = 0;
  std::vector<DlibLayer> layers;  // forward order, the input not included
  uint64_t float_count = 0;       // floats held by all arrays
};

namespace detail {

class DlibParser {
 public:
  DlibParser(const Source& src, const ReadLimits& limits) : src_(src), limits_(limits), in_(src) {}

  DlibNet run() {
    DlibNet net;
    net.file = src_.name();
    if (src_.size() == 0) in_.fail("empty file, not a dlib network");
    // The loss wrapper, then its details.
    const int64_t loss_version = integer<int>("the loss layer's version");
    if (loss_version != 1)
      in_.fail_at(0, "the loss layer's version is ", loss_version, ", expected 1 (not a dlib network?)");
    const uint64_t loss_at = in_.position();
    net.loss = string("the loss layer's name");
    if (net.loss == "loss_metric_2") {
      net.margin = scalar("loss_metric_2 margin");
      net.dist_thresh = scalar("loss_metric_2 dist_thresh");
    } else if (net.loss == "loss_metric_") {
      net.margin = 0.1;  // what dlib assumes for the old record, which stores neither
      net.dist_thresh = 0.75;
    } else {
      in_.fail_at(loss_at, "loss layer ", quote(net.loss), " is not one graft reads (loss_metric_, loss_metric_2)");
    }

    // The wrapper versions, output side first, up to the bottom add_layer's 3.
    std::vector<std::pair<int64_t, uint64_t>> wrappers;  // version, offset
    for (;;) {
      const uint64_t at = in_.position();
      const int64_t v = integer<int>("a layer wrapper's version");
      if (v == 3) break;
      if (v != 1 && v != 2)
        in_.fail_at(at, "layer wrapper ", wrappers.size() + 1, " has version ", v,
                    "; expected 2 (add_layer), 1 (tag or skip) or 3 (the layer over the input); "
                    "older dlib files (add_layer version 1) are not read");
      if (wrappers.size() >= limits_.max_layers)
        in_.fail_at(at, "more than ", limits_.max_layers, " layer wrappers (ReadLimits::max_layers)");
      wrappers.push_back({v, at});
    }

    // The input layer, then the bottom layer's details and state.
    net.input_offset = in_.position();
    net.input = string("the input layer's name");
    if (net.input == "input_rgb_image_sized" || net.input == "input_rgb_image") {
      for (int c = 0; c < 3; ++c) {
        static const char* names[3] = {"avg_red", "avg_green", "avg_blue"};
        const uint64_t at = in_.position();
        const double m = scalar(names[c]);
        if (!std::isfinite(m) || std::fabs(m) > 1e6) in_.fail_at(at, net.input, " ", names[c], " is ", m, ", not a pixel mean");
        net.mean[c] = static_cast<float>(m);
      }
      if (net.input == "input_rgb_image_sized") {
        const uint64_t at = in_.position();
        net.rows = integer<uint64_t>("input rows");
        net.cols = integer<uint64_t>("input columns");
        if (net.rows == 0 || net.cols == 0 || net.rows > (1u << 16) || net.cols > (1u << 16))
          in_.fail_at(at, "input size ", net.rows, " x ", net.cols, " is outside 1..65536");
      }
    } else {
      in_.fail_at(net.input_offset, "input layer ", quote(net.input),
                  " is not one graft reads (input_rgb_image_sized, input_rgb_image)");
    }
    net.layers.push_back(details());
    state(true);
    // The rest in forward order: the wrapper list backwards.
    for (size_t i = wrappers.size(); i-- > 0;) {
      if (wrappers[i].first == 1) {
        DlibLayer t;
        t.kind = DlibKind::tag;
        t.offset = wrappers[i].second;
        net.layers.push_back(std::move(t));
      } else {
        net.layers.push_back(details());
        state(false);
      }
    }
    if (in_.remaining() != 0)
      in_.fail(in_.remaining(), " bytes follow the last record (the network ended there)");
    net.float_count = floats_;
    return net;
  }

 private:
  // An integer of C++ type I as dlib writes it (signed I: int64_t, unsigned I: uint64_t).
  // Reserved bits must be 0 and the width 1..sizeof(I); dlib's unsigned unpack counts the
  // sign bit into the width, so a sign on an unsigned field is refused too. Values I cannot
  // hold are refused.
  template <class I>
  typename std::conditional<std::is_signed<I>::value, int64_t, uint64_t>::type integer(const char* what) {
    constexpr bool is_signed = std::is_signed<I>::value;
    const uint64_t at = in_.position();
    const uint8_t ctrl = in_.byte(what);
    if (ctrl & 0x70) in_.fail_at(at, what, ": integer control byte 0x", hex(ctrl), " has reserved bits set");
    const bool negative = ctrl & 0x80;
    if (negative && !is_signed)
      in_.fail_at(at, what, ": integer control byte 0x", hex(ctrl), " marks a negative value for an unsigned field");
    const int n = ctrl & 0x0f;
    if (n == 0 || n > int(sizeof(I)))
      in_.fail_at(at, what, ": integer control byte 0x", hex(ctrl), " says ", n, " bytes; a ", sizeof(I) * 8,
                  "-bit integer takes 1..", sizeof(I));
    unsigned char b[8];
    in_.read(b, uint64_t(n), what);
    const uint64_t mag = load_le(b, n);
    const uint64_t max = static_cast<uint64_t>(std::numeric_limits<I>::max());
    if (mag > max + (negative ? 1 : 0))  // a signed minimum is max + 1 in magnitude
      in_.fail_at(at, what, ": ", negative ? "-" : "", mag, " does not fit in a ", sizeof(I) * 8, "-bit integer");
    if constexpr (is_signed) {
      return negative ? -static_cast<int64_t>(mag - 1) - 1 : static_cast<int64_t>(mag);
    } else {
      return mag;
    }
  }
  bool boolean(const char* what) {
    const uint64_t at = in_.position();
    const uint8_t c = in_.byte(what);
    if (c != '0' && c != '1') in_.fail_at(at, what, ": a bool is '0' or '1', found byte 0x", hex(c));
    return c == '1';
  }
  std::string string(const char* what) {
    const uint64_t at = in_.position();
    const uint64_t n = integer<uint64_t>(what);
    if (n > in_.remaining())
      in_.fail_at(at, what, ": a string of ", n, " bytes, but only ", in_.remaining(), " are left (truncated or corrupt file)");
    if (n > limits_.max_name_bytes)
      in_.fail_at(at, what, ": a string of ", n, " bytes, more than ReadLimits::max_name_bytes (", limits_.max_name_bytes, ")");
    std::string s(static_cast<size_t>(n), '\0');
    if (n) in_.read(&s[0], n, what);
    return s;
  }
  // float_details: int64 mantissa, then int16 exponent. dlib reads a first byte with any of
  // bits 0x70 set as its old text format, which graft refuses by name.
  double scalar(const char* what) {
    const uint64_t at = in_.position();
    if (in_.remaining() > 0) {
      unsigned char first;
      src_.read_at(at, &first, 1);  // the input covers the whole source: its position is the offset
      if (first & 0x70)
        in_.fail_at(at, what, ": a scalar in dlib's old text format (byte 0x", hex(first),
                    "), which graft does not read; re-save the network with a newer dlib");
    }
    const int64_t mantissa = integer<int64_t>(what);
    const int64_t exponent = integer<int16_t>(what);
    if (exponent == 32000) return std::numeric_limits<double>::infinity();
    if (exponent == 32001) return -std::numeric_limits<double>::infinity();
    if (exponent == 32002) return std::numeric_limits<double>::quiet_NaN();
    return std::ldexp(static_cast<double>(mantissa), static_cast<int>(exponent));
  }

  struct Dims {
    int64_t d[4] = {0, 0, 0, 0};
    uint64_t offset = 0;
    int64_t numel() const { return d[0] * d[1] * d[2] * d[3]; }
    std::string str() const {
      return "(" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) + ", " +
             std::to_string(d[3]) + ")";
    }
    bool is(int64_t a, int64_t b, int64_t c, int64_t e) const { return d[0] == a && d[1] == b && d[2] == c && d[3] == e; }
  };
  // Four non-negative int64 dims whose product stays below Shape::kMaxNumel.
  Dims dims(const std::string& what) {
    Dims s;
    s.offset = in_.position();
    for (int i = 0; i < 4; ++i) {
      s.d[i] = integer<int64_t>(what.c_str());
      if (s.d[i] < 0) in_.fail_at(s.offset, what, ": dimension ", i, " is negative (", s.d[i], ")");
    }
    __int128 n = 1;
    for (int i = 0; i < 4; ++i) {
      n *= s.d[i];
      if (n > Shape::kMaxNumel) in_.fail_at(s.offset, what, ": shape ", s.str(), " has more than 2^40 elements");
    }
    return s;
  }
  // A tensor record: its dims and, when keep, its floats (else they are skipped).
  Dims tensor(const std::string& what, std::vector<uint8_t>* keep) {
    const uint64_t at = in_.position();
    const int64_t v = integer<int>((what + " version").c_str());
    if (v != 2) in_.fail_at(at, what, ": tensor version ", v, ", expected 2");
    Dims s = dims(what);
    s.offset = at;
    const uint64_t bytes = uint64_t(s.numel()) * 4;
    if (bytes > in_.remaining())
      in_.fail_at(at, what, ": tensor ", s.str(), " needs ", bytes, " bytes, but only ", in_.remaining(),
                  " are left (truncated or corrupt file)");
    if (!keep) {  // state tensors: bounded by the file, never allocated
      skip(bytes, what);
      return s;
    }
    if (bytes > limits_.max_array_bytes)
      in_.fail_at(at, what, ": tensor ", s.str(), " is ", bytes, " bytes, more than ReadLimits::max_array_bytes");
    if (total_ + bytes > limits_.max_total_bytes)
      in_.fail_at(at, what, ": the tensors total more than ReadLimits::max_total_bytes");
    total_ += bytes;
    floats_ += bytes / 4;
    in_.read_vector(*keep, bytes, what.c_str());
    if (!host_is_little_endian()) swap_bytes(keep->data(), keep->size() / 4, 4);
    return s;
  }
  Dims alias(const std::string& what) {
    const uint64_t at = in_.position();
    const int64_t v = integer<int>((what + " version").c_str());
    if (v != 1) in_.fail_at(at, what, ": alias_tensor version ", v, ", expected 1");
    Dims s = dims(what);
    s.offset = at;
    return s;
  }
  void skip(uint64_t n, const std::string& what) {
    unsigned char buf[4096];
    while (n) {
      const uint64_t k = std::min<uint64_t>(n, sizeof buf);
      in_.read(buf, k, what.c_str());
      n -= k;
    }
  }
  // The floats [from, from + count) of params as an array of `shape`.
  static Array slice(const std::vector<uint8_t>& params, int64_t from, const Shape& shape) {
    const auto begin = params.begin() + from * 4;
    return Array(DType::f4, shape, std::vector<uint8_t>(begin, begin + shape.numel() * 4));
  }
  int64_t geometry(const char* what, int64_t lo, int64_t hi, uint64_t at, int64_t v) {
    if (v < lo || v > hi) in_.fail_at(at, what, " is ", v, ", outside ", lo, "..", hi);
    return v;
  }
  template <class I>
  int64_t field(const char* what, int64_t lo, int64_t hi) {
    const uint64_t at = in_.position();
    return geometry(what, lo, hi, at, static_cast<int64_t>(integer<I>(what)));
  }

  DlibLayer details() {
    DlibLayer l;
    l.offset = in_.position();
    l.version = string("a layer's version string");
    const std::string& v = l.version;
    const std::string rec = "record " + quote(v) + " at offset " + std::to_string(l.offset);
    if (v == "con_4" || v == "con_5") {
      l.kind = DlibKind::con;
      std::vector<uint8_t> params;
      const Dims p = tensor(v + " params", &params);
      l.outputs = field<long>("con num_filters", 1, 1 << 20);
      l.rows = field<long>("con kernel rows", 1, 1 << 12);
      l.cols = field<long>("con kernel columns", 1, 1 << 12);
      l.stride_y = field<int>("con stride_y", 1, 1 << 12);
      l.stride_x = field<int>("con stride_x", 1, 1 << 12);
      l.pad_y = field<int>("con padding_y", 0, l.rows - 1);
      l.pad_x = field<int>("con padding_x", 0, l.cols - 1);
      const Dims f = alias(v + " filters");
      const Dims b = alias(v + " biases");
      for (int i = 0; i < 4; ++i) scalar("con lr/wd multiplier");
      l.bias = v == "con_5" ? boolean("con_5 use_bias") : true;
      if (p.numel() == 0) in_.fail_at(p.offset, rec, " holds no weights (a net that was never trained or run?)");
      if (!(f.d[0] == l.outputs && f.d[1] >= 1 && f.d[2] == l.rows && f.d[3] == l.cols))
        in_.fail_at(f.offset, rec, ": filters ", f.str(), " disagree with num_filters ", l.outputs, " and kernel ",
                    l.rows, " x ", l.cols);
      l.inputs = f.d[1];
      const bool has_b = b.is(1, l.outputs, 1, 1);
      if (!has_b && b.numel() != 0)
        in_.fail_at(b.offset, rec, ": biases ", b.str(), " should be (1, ", l.outputs, ", 1, 1)");
      const int64_t want = f.numel() + (has_b ? l.outputs : 0);
      if (p.numel() != want)
        in_.fail_at(p.offset, rec, ": params hold ", p.numel(), " floats, but filters ", f.str(), has_b ? " and biases" : "",
                    " need ", want);
      l.bias = l.bias && has_b;
      l.weights = slice(params, 0, Shape{l.outputs, l.inputs, l.rows, l.cols});
      if (l.bias) l.biases = slice(params, f.numel(), Shape{l.outputs});
    } else if (v == "affine_" || v == "affine_2") {
      l.kind = DlibKind::affine;
      std::vector<uint8_t> params;
      const Dims p = tensor(v + " params", &params);
      const Dims g = alias(v + " gamma");
      const Dims b = alias(v + " beta");
      l.mode = field<int>("affine mode", 0, 1);
      l.disabled = v == "affine_2" ? boolean("affine_2 disabled") : false;
      if (p.numel() == 0) in_.fail_at(p.offset, rec, " holds no gamma and beta (a net that was never trained or run?)");
      if (!(g.d[0] == b.d[0] && g.d[1] == b.d[1] && g.d[2] == b.d[2] && g.d[3] == b.d[3]) || g.numel() == 0)
        in_.fail_at(g.offset, rec, ": gamma ", g.str(), " and beta ", b.str(), " differ or are empty");
      if (l.mode == 0 && !(g.d[0] == 1 && g.d[2] == 1 && g.d[3] == 1))
        in_.fail_at(g.offset, rec, ": a per-channel affine has gamma ", g.str(), ", expected (1, C, 1, 1)");
      if (p.numel() != 2 * g.numel())
        in_.fail_at(p.offset, rec, ": params hold ", p.numel(), " floats, gamma and beta ", g.str(), " need ", 2 * g.numel());
      l.outputs = g.numel();
      l.weights = slice(params, 0, Shape{g.numel()});
      l.biases = slice(params, g.numel(), Shape{g.numel()});
    } else if (v == "relu_") {
      l.kind = DlibKind::relu;
    } else if (v == "add_prev_") {
      l.kind = DlibKind::add_prev;
    } else if (v == "max_pool_2" || v == "avg_pool_2") {
      l.kind = v == "max_pool_2" ? DlibKind::max_pool : DlibKind::avg_pool;
      l.rows = field<long>("pool rows", 0, 1 << 12);  // 0: the whole input
      l.cols = field<long>("pool columns", 0, 1 << 12);
      l.stride_y = field<int>("pool stride_y", 1, 1 << 12);
      l.stride_x = field<int>("pool stride_x", 1, 1 << 12);
      l.pad_y = field<int>("pool padding_y", 0, std::max<int64_t>(0, l.rows - 1));
      l.pad_x = field<int>("pool padding_x", 0, std::max<int64_t>(0, l.cols - 1));
      if ((l.rows == 0) != (l.cols == 0))
        in_.fail_at(l.offset, rec, ": window ", l.rows, " x ", l.cols, " (0 x 0 means the whole input; one 0 does not)");
    } else if (v == "fc_2" || v == "fc_3") {
      l.kind = DlibKind::fc;
      const uint64_t at = in_.position();
      l.outputs = geometry("fc num_outputs", 1, 1 << 24, at, int64_t(std::min<uint64_t>(integer<unsigned long>("fc num_outputs"), 1ull << 62)));
      const uint64_t at2 = in_.position();
      l.inputs = geometry("fc num_inputs", 1, 1 << 28, at2, int64_t(std::min<uint64_t>(integer<unsigned long>("fc num_inputs"), 1ull << 62)));
      std::vector<uint8_t> params;
      const Dims p = tensor(v + " params", &params);
      const Dims w = alias(v + " weights");
      const Dims b = alias(v + " biases");
      const uint64_t mode_at = in_.position();
      const int64_t mode = field<int>("fc bias_mode", 0, 1);  // 0 FC_HAS_BIAS, 1 FC_NO_BIAS
      for (int i = 0; i < 4; ++i) scalar("fc lr/wd multiplier");
      const bool use_bias = v == "fc_3" ? boolean("fc_3 use_bias") : true;
      if (p.numel() == 0) in_.fail_at(p.offset, rec, " holds no weights (a net that was never trained or run?)");
      if (!w.is(l.inputs, l.outputs, 1, 1))
        in_.fail_at(w.offset, rec, ": weights ", w.str(), ", expected (", l.inputs, ", ", l.outputs, ", 1, 1)");
      const bool has_b = mode == 0;
      if (has_b ? !b.is(1, l.outputs, 1, 1) : b.numel() != 0)
        in_.fail_at(b.offset, rec, ": biases ", b.str(), " disagree with bias_mode ", mode, " at offset ", mode_at);
      const int64_t want = w.numel() + (has_b ? l.outputs : 0);
      if (p.numel() != want)
        in_.fail_at(p.offset, rec, ": params hold ", p.numel(), " floats, the weights", has_b ? " and biases" : "",
                    " need ", want);
      l.bias = has_b && use_bias;
      l.weights = slice(params, 0, Shape{l.inputs, l.outputs});
      if (l.bias) l.biases = slice(params, w.numel(), Shape{l.outputs});
    } else if (v == "bn_con2" || v == "bn_fc2" || v == "bn_") {
      in_.fail_at(l.offset, "record ", quote(v), " is batch normalisation (a training net); graft reads the test net, "
                  "whose affine_ layers dlib makes from it");
    } else {
      in_.fail_at(l.offset, "layer record ", quote(v), " is not one graft reads "
                  "(con_4/5, affine_/affine_2, relu_, add_prev_, max_pool_2, avg_pool_2, fc_2/3)");
    }
    return l;
  }

  // An add_layer's state after its details: 3 bools, x_grad, cached_output, params_grad (or
  // grad_final for the bottom layer), then the bottom layer's sample expansion factor. Inference
  // uses none of it; the tensors are skipped within the file's bounds.
  void state(bool bottom) {
    boolean("this_layer_setup_called");
    boolean("gradient_input_is_stale");
    boolean("get_output_and_gradient_input_disabled");
    tensor("x_grad", nullptr);
    tensor("cached_output", nullptr);
    tensor(bottom ? "grad_final" : "params_grad", nullptr);
    if (bottom) {
      const uint64_t at = in_.position();
      const uint64_t f = integer<unsigned int>("sample_expansion_factor");
      if (f != 1) in_.fail_at(at, "sample_expansion_factor is ", f, "; graft reads nets of one tensor sample per input");
    }
  }

  static std::string hex(uint8_t b) {
    static const char* d = "0123456789abcdef";
    return std::string{d[b >> 4], d[b & 15]};
  }

  const Source& src_;
  const ReadLimits& limits_;
  RangeInput in_;
  uint64_t total_ = 0, floats_ = 0;
};

}  // namespace detail

inline DlibNet read_dlib(const Source& src, const ReadLimits& limits = {}) {
  return detail::DlibParser(src, limits).run();
}

inline DlibNet read_dlib(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return read_dlib(src, limits);
}

// One line per record kind, "con" "tag/skip" ...: the sequence a caller checks.
inline std::vector<DlibKind> dlib_kinds(const DlibNet& net) {
  std::vector<DlibKind> k;
  for (const auto& l : net.layers) k.push_back(l.kind);
  return k;
}

// Insists that the file's records have exactly the kinds `expected` (forward order), since
// the file stores no types for tags and skips; names the first record that differs.
inline void check_dlib_layers(const DlibNet& net, const std::vector<DlibKind>& expected, const std::string& architecture) {
  for (size_t i = 0; i < std::max(expected.size(), net.layers.size()); ++i) {
    if (i >= net.layers.size())
      GRAFT_FAIL(net.file, ": ends after ", net.layers.size(), " layer records, but ", architecture, " has ",
                 expected.size(), " (the next would be ", dlib_kind_name(expected[i]), ")");
    const DlibLayer& l = net.layers[i];
    if (i >= expected.size())
      GRAFT_FAIL(net.file, ": offset ", l.offset, ": record ", i, " (", dlib_kind_name(l.kind), ") is one more than the ",
                 expected.size(), " of ", architecture);
    if (l.kind != expected[i])
      GRAFT_FAIL(net.file, ": offset ", l.offset, ": record ", i, " is ", dlib_kind_name(l.kind),
                 l.version.empty() ? "" : " (" + quote(l.version) + ")", ", but ", architecture, " has ",
                 dlib_kind_name(expected[i]), " there");
  }
}

// A record's geometry in words, for listings: "32 x 3, 7x7 stride 2 pad 0, bias".
inline std::string dlib_geometry(const DlibLayer& l) {
  auto win = [&] {
    if (l.rows == 0 && l.cols == 0) return std::string("whole input");
    return std::to_string(l.rows) + "x" + std::to_string(l.cols) + " stride " + std::to_string(l.stride_y) +
           (l.stride_x != l.stride_y ? "x" + std::to_string(l.stride_x) : "") + " pad " + std::to_string(l.pad_y) +
           (l.pad_x != l.pad_y ? "x" + std::to_string(l.pad_x) : "");
  };
  switch (l.kind) {
    case DlibKind::con:
      return std::to_string(l.outputs) + " from " + std::to_string(l.inputs) + ", " + win() + (l.bias ? ", bias" : ", no bias");
    case DlibKind::affine:
      return std::to_string(l.outputs) + (l.mode == 0 ? " channels" : " elements") + (l.disabled ? ", disabled" : "");
    case DlibKind::max_pool:
    case DlibKind::avg_pool: return win();
    case DlibKind::fc:
      return std::to_string(l.outputs) + " from " + std::to_string(l.inputs) + (l.bias ? ", bias" : ", no bias");
    default: return "";
  }
}

// Every array as a named array, "<record>_<kind>/weights" and "/biases" in forward order
// (what graft-inspect lists): "000_con/weights". The net's arrays are moved out.
inline std::vector<std::pair<std::string, Array>> dlib_arrays(DlibNet&& net) {
  std::vector<std::pair<std::string, Array>> out;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    DlibLayer& l = net.layers[i];
    char id[32];
    std::snprintf(id, sizeof id, "%03zu_%s", i, dlib_kind_name(l.kind));
    if (l.weights.size()) out.push_back({std::string(id) + (l.kind == DlibKind::affine ? "/gamma" : "/weights"), std::move(l.weights)});
    if (l.biases.size()) out.push_back({std::string(id) + (l.kind == DlibKind::affine ? "/beta" : "/biases"), std::move(l.biases)});
  }
  return out;
}

// Whether `path` names a dlib network, by its extension (dlib's format has no magic number).
inline bool is_dlib_path(const std::string& path) {
  const std::string ext = ".dat";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

}  // namespace io
}  // namespace graft
