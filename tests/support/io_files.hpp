// Helpers for the [io] tests: temporary folders, whole-file bytes, the data folder, and
// tests/python/io_ref.py (NumPy) writing reference files or checking graft's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "support/skip.hpp"

namespace graft {
namespace iotest {

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error("cannot write " + path);
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A fresh folder under $TMPDIR, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp ? tmp : "/tmp") + "/graft-io-XXXXXX";
    if (!mkdtemp(&templ[0])) throw Error("cannot make a temporary folder " + templ);
    dir_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// The data folder: $GRAFT_DATA, else ../shared/data beside the checkout; "" when absent.
inline std::string data_dir() {
  const char* env = std::getenv("GRAFT_DATA");
  const std::string d = env && *env ? env : std::string(GRAFT_SOURCE_DIR) + "/../shared/data";
  return std::filesystem::is_directory(d) ? d : std::string();
}

// The folder of the real caffe-tensorflow files det1/det2/det3.npy; "" when any is missing.
inline std::string caffe_tf_dir() {
  const std::string d = data_dir();
  if (d.empty()) return "";
  for (const char* f : {"det1.npy", "det2.npy", "det3.npy"})
    if (!std::filesystem::is_regular_file(d + "/caffe-tensorflow/" + f)) return "";
  return d + "/caffe-tensorflow";
}

inline std::string test_python() {
  const char* env = std::getenv("GRAFT_TEST_PYTHON");
  return env ? env : GRAFT_TEST_PYTHON;
}

// One array NumPy wrote, from a manifest.tsv of io_ref.py.
struct RefArray {
  std::string file, name, dtype;
  Shape shape;
  std::string bytes;  // C order, host byte order
};

// io_ref.py over a temporary folder. Skips the test when no Python with NumPy was found.
class NumpyRef : public TempDir {
 public:
  NumpyRef() {
    python_ = test_python();
    if (python_.empty()) GRAFT_SKIP("no Python with numpy was found at configure time (install python3-numpy)");
  }
  // Runs `io_ref.py CMD SUB ARGS...`; returns its exit status.
  int run(const std::string& cmd, const std::string& sub, const std::string& args = "") const {
    const std::string line = shell_quote(python_) + " " + shell_quote(std::string(GRAFT_TEST_SCRIPTS) + "/io_ref.py") +
                             " " + cmd + " " + shell_quote(sub.empty() ? dir() : path(sub)) + " " + args;
    const int rc = std::system(line.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  }
  void make(const std::string& cmd, const std::string& sub, const std::string& args = "") const {
    if (run(cmd, sub, args) != 0) throw Error("io_ref.py " + cmd + " failed");
  }
  std::vector<RefArray> manifest(const std::string& sub) const {
    std::vector<RefArray> out;
    std::ifstream f(path(sub + "/manifest.tsv"));
    std::string line;
    while (std::getline(f, line)) {
      std::vector<std::string> p;
      std::stringstream ss(line);
      std::string field;
      while (std::getline(ss, field, '\t')) p.push_back(field);
      if (p.size() != 5) throw Error("bad manifest line: " + line);
      std::vector<int64_t> dims;
      std::stringstream ds(p[3]);
      while (std::getline(ds, field, ','))
        if (!field.empty()) dims.push_back(std::stoll(field));
      const std::string file = p[0][0] == '/' ? p[0] : path(sub + "/" + p[0]);
      out.push_back({file, p[1], p[2], Shape(dims), read_bytes(path(sub + "/" + p[4]))});
    }
    return out;
  }

 private:
  std::string python_;
};

// Files graft wrote, listed in written.tsv for `io_ref.py check-written`, which reads each
// with NumPy and compares it with the bytes saved beside it.
class WrittenList {
 public:
  explicit WrittenList(const NumpyRef& ref) : ref_(ref), list_(ref.path("written.tsv")) {}
  // kind: npy, npz or dict; file relative to the folder.
  void add(const std::string& kind, const std::string& file, const std::string& name, const io::Array& a) {
    list_ << kind << '\t' << file << '\t' << name << '\t' << io::dtype_name(a.dtype()) << '\t' << dims(a.shape())
          << '\t' << save(a) << '\n';
  }
  // `graft` holds graft's layout; NumPy puts it in caffe-tensorflow layout (transform conv or
  // fc over C x H x W input features) and compares it with the file's array of shape `file_shape`.
  void add_transformed(const std::string& kind, const std::string& file, const std::string& name,
                       const io::Array& graft, const Shape& file_shape, const std::string& transform,
                       int64_t c, int64_t h, int64_t w) {
    list_ << kind << '\t' << file << '\t' << name << '\t' << io::dtype_name(graft.dtype()) << '\t'
          << dims(file_shape) << '\t' << save(graft) << '\t' << transform << '\t' << dims(graft.shape()) << '\t'
          << c << '\t' << h << '\t' << w << '\n';
  }
  // Runs the check; true when NumPy agrees on every file.
  bool check() {
    list_.close();
    return ref_.run("check-written", "") == 0;
  }

 private:
  static std::string dims(const Shape& s) {
    std::string out;
    for (int i = 0; i < s.rank(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out;
  }
  std::string save(const io::Array& a) {
    const std::string name = "graft" + std::to_string(++n_) + ".bin";
    write_bytes(ref_.path(name), std::string(reinterpret_cast<const char*>(a.data()), a.nbytes()));
    return name;
  }
  const NumpyRef& ref_;
  std::ofstream list_;
  int n_ = 0;
};

}  // namespace iotest
}  // namespace graft
