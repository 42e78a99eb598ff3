// libFuzzer target: zip directory parsing, stored and inflated entries, CRC checks.
// read_npz returns arrays or throws graft::Error, nothing else.
#include "fuzz_common.hpp"
#include "graft/io/npz.hpp"

using namespace graft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemorySource src(data, size, "fuzz.npz");
  try {
    const auto arrays = io::read_npz(src, fuzz::limits());
    for (const auto& a : arrays)
      GRAFT_FUZZ_ASSERT(a.array.nbytes() == size_t(a.array.shape().numel()) * io::itemsize(a.array.dtype()));
  } catch (const Error&) {
  }
  return 0;
}
