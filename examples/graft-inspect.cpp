// graft-inspect FILE [--json]: lists every array in an .npy, .npz or caffe-tensorflow file
// with its dtype, shape, min, max and mean; for a .caffemodel, its layers (name, type, blob
// shapes) and then every blob as an array "layer/0", "layer/1", ...
//
// Names: "layer/param" for a weights dict, the key for an .npz, the file's name less ".npy"
// for a plain .npy. Statistics are computed in extended precision over the file's values,
// as NumPy would over a float64 copy; an empty array has none, and NaN anywhere makes all
// three NaN (as np.min/np.max/np.mean give). --json prints
//   {"arrays": [{"name", "dtype", "shape", "min", "max", "mean"}, ...]}
// with NaN and infinities as null (JSON has no such numbers); a .caffemodel adds
//   "format": "caffemodel", "version": 1 or 2, "net": name, "layers": [{"name", "type", "blobs"}]
// before "arrays"; a dlib network (.dat, as dlib's serialize writes it) lists its loss,
// input and layer records (kind, version, offset, geometry), then its arrays
// "<record>_<kind>/weights" ..., and in JSON adds
//   "format": "dlib", "loss", "input": {"name", "mean", "rows", "cols"}, "layers": [{"kind", "version", "offset", "geometry"}]
// before "arrays"; an ONNX model (.onnx) lists its opset, producer, metadata_props and nodes
// (name, op type, inputs, outputs), then its initializers as arrays, and in JSON adds
//   "format": "onnx", "ir_version", "opset", "producer", "metadata": {key: value},
//   "nodes": [{"name", "op_type", "inputs", "outputs"}]
// before "arrays". A file graft cannot read
// exits with status 1 and one line on stderr; a wrong command line with status 2.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "graft/io/caffemodel.hpp"
#include "graft/io/dlib.hpp"
#include "graft/io/onnx.hpp"
#include "graft/io/weights.hpp"

namespace {

struct Stats {
  bool any = false;  // false for an empty array
  double min = 0, max = 0, mean = 0;
};

Stats stats(const graft::io::Array& a) {
  Stats s;
  const int64_t n = a.size();
  if (n == 0) return s;
  s.any = true;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  long double sum = 0;
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    const double v = a.value(i);
    if (std::isnan(v)) {
      nan = true;
      break;
    }
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    sum += v;
  }
  if (nan) {
    s.min = s.max = s.mean = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.min = lo;
  s.max = hi;
  s.mean = static_cast<double>(sum / static_cast<long double>(n));
  return s;
}

std::string json_string(const std::string& raw) {
  const std::string s = graft::io::valid_utf8(raw) ? raw : graft::io::latin1_to_utf8(raw);
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void print_json(const std::vector<graft::io::NamedArray>& arrays, const std::string& before = "") {
  std::printf("{%s\"arrays\": [", before.c_str());
  for (size_t i = 0; i < arrays.size(); ++i) {
    const auto& a = arrays[i].array;
    const Stats s = stats(a);
    std::string shape = "[";
    for (int d = 0; d < a.shape().rank(); ++d) shape += (d ? ", " : "") + std::to_string(a.shape()[d]);
    shape += "]";
    std::printf("%s\n  {\"name\": %s, \"dtype\": \"%s\", \"shape\": %s, \"min\": %s, \"max\": %s, \"mean\": %s}",
                i ? "," : "", json_string(arrays[i].name).c_str(), graft::io::dtype_name(a.dtype()), shape.c_str(),
                s.any ? json_number(s.min).c_str() : "null", s.any ? json_number(s.max).c_str() : "null",
                s.any ? json_number(s.mean).c_str() : "null");
  }
  std::printf("%s]}\n", arrays.empty() ? "" : "\n");
}

void print_table(const char* path, const std::vector<graft::io::NamedArray>& arrays) {
  std::printf("%s: %zu array%s\n", path, arrays.size(), arrays.size() == 1 ? "" : "s");
  std::printf("%-28s %-8s %-20s %14s %14s %14s\n", "name", "dtype", "shape", "min", "max", "mean");
  for (const auto& na : arrays) {
    const Stats s = stats(na.array);
    char mn[32] = "-", mx[32] = "-", me[32] = "-";
    if (s.any) {
      std::snprintf(mn, sizeof mn, "%.6g", s.min);
      std::snprintf(mx, sizeof mx, "%.6g", s.max);
      std::snprintf(me, sizeof me, "%.6g", s.mean);
    }
    const std::string q = graft::io::quote(na.name, 200);  // control bytes escaped
    std::printf("%-28s %-8s %-20s %14s %14s %14s\n", q.substr(1, q.size() - 2).c_str(),
                graft::io::dtype_name(na.array.dtype()), na.array.shape().str().c_str(), mn, mx, me);
  }
}

// A .caffemodel: its layers as a table (or JSON members), then its blobs as arrays.
void print_caffemodel(const char* path, bool json) {
  graft::io::CaffeModel m = graft::io::read_caffemodel(path);
  std::string layers;
  size_t blobs = 0;
  for (const auto& l : m.layers) blobs += l.blobs.size();
  if (json) {
    for (size_t i = 0; i < m.layers.size(); ++i)
      layers += std::string(i ? ",\n  " : "\n  ") + "{\"name\": " + json_string(m.layers[i].name) +
                ", \"type\": " + json_string(m.layers[i].type) + ", \"blobs\": " +
                std::to_string(m.layers[i].blobs.size()) + "}";
    const std::string before = "\"format\": \"caffemodel\", \"version\": " + std::to_string(m.format) +
                               ", \"net\": " + json_string(m.name) + ", \"layers\": [" + layers + "],\n ";
    print_json(graft::io::caffemodel_arrays(std::move(m)), before);
    return;
  }
  const std::string net = graft::io::quote(m.name, 200);
  std::printf("%s: Caffe V%d net %s, %zu layer%s, %zu blob%s\n", path, m.format, net.c_str(), m.layers.size(),
              m.layers.size() == 1 ? "" : "s", blobs, blobs == 1 ? "" : "s");
  std::printf("%-28s %-20s %s\n", "layer", "type", "blobs");
  for (const auto& l : m.layers) {
    std::string shapes;
    for (const auto& b : l.blobs) shapes += (shapes.empty() ? "" : " ") + b.shape.str();
    const std::string q = graft::io::quote(l.name, 200), t = graft::io::quote(l.type, 200);
    std::printf("%-28s %-20s %s\n", q.substr(1, q.size() - 2).c_str(), t.substr(1, t.size() - 2).c_str(),
                shapes.empty() ? "-" : shapes.c_str());
  }
  std::printf("\n");
  print_table(path, graft::io::caffemodel_arrays(std::move(m)));
}

// A dlib network: loss, input, the records in forward order, then the arrays.
void print_dlib(const char* path, bool json) {
  graft::io::DlibNet net = graft::io::read_dlib(path);
  std::vector<graft::io::NamedArray> arrays;
  const auto records = net.layers.size();
  std::string layers;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const auto& l = net.layers[i];
    if (json) {
      layers += std::string(i ? ",\n  " : "\n  ") + "{\"kind\": " + json_string(graft::io::dlib_kind_name(l.kind)) +
                ", \"version\": " + json_string(l.version) + ", \"offset\": " + std::to_string(l.offset) +
                ", \"geometry\": " + json_string(graft::io::dlib_geometry(l)) + "}";
    }
  }
  if (!json) {
    const std::string loss = graft::io::quote(net.loss, 200), input = graft::io::quote(net.input, 200);
    std::printf("%s: dlib network, loss %s (margin %g, distance threshold %g), %zu records, %llu floats\n", path,
                loss.c_str(), net.margin, net.dist_thresh, records, static_cast<unsigned long long>(net.float_count));
    std::printf("input %s: %llu x %llu, means R %.8g G %.8g B %.8g\n", input.c_str(),
                static_cast<unsigned long long>(net.rows), static_cast<unsigned long long>(net.cols), net.mean[0],
                net.mean[1], net.mean[2]);
    std::printf("%-6s %-10s %-10s %10s  %s\n", "record", "kind", "version", "offset", "geometry");
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const auto& l = net.layers[i];
      std::printf("%-6zu %-10s %-10s %10llu  %s\n", i, graft::io::dlib_kind_name(l.kind), l.version.c_str(),
                  static_cast<unsigned long long>(l.offset), graft::io::dlib_geometry(l).c_str());
    }
    std::printf("\n");
  }
  const std::string before = "\"format\": \"dlib\", \"loss\": " + json_string(net.loss) + ", \"input\": {\"name\": " +
                             json_string(net.input) + ", \"mean\": [" + json_number(net.mean[0]) + ", " +
                             json_number(net.mean[1]) + ", " + json_number(net.mean[2]) + "], \"rows\": " +
                             std::to_string(net.rows) + ", \"cols\": " + std::to_string(net.cols) + "}, \"layers\": [" +
                             layers + "],\n ";
  for (auto& a : graft::io::dlib_arrays(std::move(net))) arrays.push_back({a.first, std::move(a.second)});
  if (json)
    print_json(arrays, before);
  else
    print_table(path, arrays);
}

// An ONNX model: its header, metadata and nodes, then its initializers as arrays.
void print_onnx(const char* path, bool json) {
  graft::io::OnnxModel m = graft::io::read_onnx(path);
  std::vector<graft::io::NamedArray> arrays;
  for (auto& t : m.graph.initializers) arrays.push_back({t.name, std::move(t.data)});
  auto list = [](const std::vector<std::string>& v, bool as_json) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
      if (as_json) {
        s += (i ? ", " : "") + json_string(v[i]);
      } else {
        const std::string q = graft::io::quote(v[i], 200);
        s += (i ? ", " : "") + q.substr(1, q.size() - 2);
      }
    }
    return as_json ? "[" + s + "]" : s;
  };
  if (json) {
    std::string meta, nodes;
    for (size_t i = 0; i < m.metadata.size(); ++i)
      meta += (i ? ", " : "") + json_string(m.metadata[i].first) + ": " + json_string(m.metadata[i].second);
    for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
      const auto& n = m.graph.nodes[i];
      nodes += std::string(i ? ",\n  " : "\n  ") + "{\"name\": " + json_string(n.name) + ", \"op_type\": " +
               json_string(n.op_type) + ", \"inputs\": " + list(n.inputs, true) + ", \"outputs\": " +
               list(n.outputs, true) + "}";
    }
    const std::string before = "\"format\": \"onnx\", \"ir_version\": " + std::to_string(m.ir_version) +
                               ", \"opset\": " + std::to_string(m.opset()) + ", \"producer\": " +
                               json_string(m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version)) +
                               ", \"metadata\": {" + meta + "}, \"nodes\": [" + nodes + "],\n ";
    print_json(arrays, before);
    return;
  }
  std::printf("%s: ONNX model, IR %lld, opset %lld, producer %s%s%s, %zu nodes, %zu initializers\n", path,
              static_cast<long long>(m.ir_version), static_cast<long long>(m.opset()),
              m.producer_name.empty() ? "?" : m.producer_name.c_str(), m.producer_version.empty() ? "" : " ",
              m.producer_version.c_str(), m.graph.nodes.size(), m.graph.initializers.size());
  for (const auto& kv : m.metadata) {
    std::string v = kv.second;
    for (char& c : v)
      if (c == '\n') c = ';';
    std::printf("  %s = %s\n", graft::io::quote(kv.first, 80).c_str(), graft::io::quote(v, 200).c_str());
  }
  std::printf("%-6s %-34s %-20s %s\n", "node", "name", "op", "inputs -> outputs");
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
    const auto& n = m.graph.nodes[i];
    const std::string q = graft::io::quote(n.name, 200), op = graft::io::quote(n.op_type, 60);
    std::printf("%-6zu %-34s %-20s %s -> %s\n", i, q.substr(1, q.size() - 2).c_str(), op.substr(1, op.size() - 2).c_str(),
                list(n.inputs, false).c_str(), list(n.outputs, false).c_str());
  }
  std::printf("\n");
  print_table(path, arrays);
}

int fail(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "graft-inspect: %s\n", line.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = nullptr;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::printf("usage: graft-inspect FILE [--json]\n"
                  "Lists every array in an .npy, .npz or caffe-tensorflow weights file:\n"
                  "name, dtype, shape, min, max and mean; for a .caffemodel, its layers and blobs;\n"
                  "for a dlib network (.dat), its records (kind, version, offset, geometry) and arrays;\n"
                  "for an ONNX model (.onnx), its opset, metadata and nodes, and its initializers.\n");
      return 0;
    } else if (!path && argv[i][0] != '-') {
      path = argv[i];
    } else {
      std::fprintf(stderr, "graft-inspect: unexpected argument '%s'\nusage: graft-inspect FILE [--json]\n", argv[i]);
      return 2;
    }
  }
  if (!path) {
    std::fprintf(stderr, "usage: graft-inspect FILE [--json]\n");
    return 2;
  }
  try {
    if (graft::io::is_onnx_path(path)) {
      print_onnx(path, json);
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write to standard output");
      return 0;
    }
    if (graft::io::is_caffemodel_path(path) || graft::io::is_dlib_path(path)) {
      if (graft::io::is_dlib_path(path))
        print_dlib(path, json);
      else
        print_caffemodel(path, json);
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write to standard output");
      return 0;
    }
    const auto arrays = graft::io::read_arrays(path);
    if (json)
      print_json(arrays);
    else
      print_table(path, arrays);
  } catch (const std::bad_alloc&) {
    return fail(std::string(path) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write to standard output");
  return 0;
}
