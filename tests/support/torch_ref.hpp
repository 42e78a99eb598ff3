// Runs a PyTorch (CPU) reference from a test: arrays go to a temporary folder as raw
// little-endian float32/int32 files, tests/python/torch_ref.py computes the same operation
// with torch and writes its results there, and the test reads them back.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <initializer_list>
#include <sys/wait.h>
#include <unistd.h>

#include "graft/core/tensor.hpp"
#include "support/skip.hpp"

namespace graft {
namespace test {

class TorchRef {
 public:
  TorchRef() {
    python_ = std::getenv("GRAFT_TEST_PYTHON") ? std::getenv("GRAFT_TEST_PYTHON") : GRAFT_TEST_PYTHON;
    if (python_.empty())
      GRAFT_SKIP("no Python with numpy and torch was found at configure time (install python3-torch)");
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp ? tmp : "/tmp") + "/graft-torch-XXXXXX";
    if (!mkdtemp(&templ[0])) throw Error("cannot make a temporary folder " + templ);
    dir_ = templ;
  }
  ~TorchRef() { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  template <class T>
  void put(const std::string& name, const Tensor<T>& t) {
    std::ofstream f(dir_ + "/" + name + ".bin", std::ios::binary);
    f.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.bytes()));
    if (!f) throw Error("cannot write " + dir_ + "/" + name + ".bin");
  }
  template <class T>
  Tensor<T> get(const std::string& name, const Shape& shape) {
    Tensor<T> t(shape);
    std::ifstream f(dir_ + "/" + name + ".bin", std::ios::binary);
    f.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.bytes()));
    if (!f || f.gcount() != static_cast<std::streamsize>(t.bytes()))
      throw Error("torch reference did not write " + name + " with shape " + shape.str());
    return t;
  }
  const std::string& dir() const { return dir_; }
  // Runs torch_ref.py OP with a JSON object of arguments; fails the test if Python fails.
  void run(const std::string& op, const std::string& json_args) { run_script("torch_ref.py", op, json_args); }
  // Runs another script of tests/python the same way (onnx_ref.py); returns its exit code
  // when `allowed` lists it (a script's "cannot run here" code), else fails on non-zero.
  int run_script(const std::string& script, const std::string& op, const std::string& json_args,
                 std::initializer_list<int> allowed = {}) {
    return run_with(python_, script, op, json_args, allowed);
  }
  // ... with another Python (a virtual environment's).
  int run_with(const std::string& python, const std::string& script, const std::string& op,
               const std::string& json_args, std::initializer_list<int> allowed = {}) {
    std::string cmd = "'" + python + "' '" GRAFT_TEST_SCRIPTS "/" + script + "' " + op + " '" + dir_ + "' '" +
                      json_args + "'";
    int rc = std::system(cmd.c_str());
    if (rc != -1 && WIFEXITED(rc)) rc = WEXITSTATUS(rc);
    for (int a : allowed)
      if (rc == a) return rc;
    if (rc != 0) throw Error("python reference failed (" + std::to_string(rc) + "): " + cmd);
    return 0;
  }

 private:
  std::string python_, dir_;
};

}  // namespace test
}  // namespace graft
