// main() for the example programs: usage errors exit 2, everything else that fails exits 1
// with one line on stderr. Under mpirun every rank runs the body (common/world.hpp); a rank
// that fails names itself and stops the others (MPI_Abort), so that none waits for it.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <new>

#include "common/cli.hpp"
#include "common/world.hpp"

namespace graft {
namespace app {

inline int guarded_main(const char* program, const char* usage, const std::function<int()>& body) {
  // Every rank parses the same command line: a usage error is printed once, and every rank
  // leaves normally. Any other error may strike one rank alone: it stops them all.
  auto fail = [&](int code, const std::string& what) {
    const bool many = world().size() > 1;
    if (many) std::fprintf(stderr, "%s: rank %d of %d: %s\n", program, world().rank(), world().size(), what.c_str());
    else std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    if (many) world().abort(code);
    return code;
  };
  try {
    start_world();
    const int rc = body();
    end_world();
    return rc;
  } catch (const UsageError& e) {
    if (writer()) std::fprintf(stderr, "%s: %s\nusage: %s", program, e.what(), usage);
    end_world();
    return 2;
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
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
