// main() for the example programs: usage errors exit 2, everything else that fails exits 1
// with one line on stderr.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <new>

#include "common/cli.hpp"

namespace graft {
namespace app {

inline int guarded_main(const char* program, const char* usage, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\nusage: %s", program, e.what(), usage);
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory\n", program);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

// Runs the CPU or the CUDA instantiation of a program's body.
template <class Config>
int on_device(const std::string& device, const Config& c, int (*cpu)(Config), int (*cuda)(Config)) {
  if (device == "cuda") {
    if (!cuda) throw UsageError("this build of graft has no CUDA backend (configure where nvcc, cuBLAS and cuDNN are found)");
    return cuda(c);
  }
  return cpu(c);
}

}  // namespace app
}  // namespace graft
