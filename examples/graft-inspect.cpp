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
                  "name, dtype, shape, min, max and mean; for a .caffemodel, its layers and blobs.\n");
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
    if (graft::io::is_caffemodel_path(path)) {
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
