// [io] graft-inspect: its --json listing agrees with NumPy on every test file and on the real
// files; a bad file makes it exit 1 with one clear line on stderr.
#include <catch2/catch.hpp>

#include "graft/io/weights.hpp"
#include "support/io_corpus.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;

namespace {
const std::string kInspect = GRAFT_INSPECT;

std::string inspect_exe() {
  if (kInspect.empty()) GRAFT_SKIP("graft-inspect is not built (GRAFT_BUILD_EXAMPLES=OFF)");
  return kInspect;
}

struct Run {
  int rc;
  std::string out, err;
};

Run run(const iotest::TempDir& tmp, const std::string& args) {
  const std::string out = tmp.path("stdout.txt"), err = tmp.path("stderr.txt");
  const int rc = std::system((iotest::shell_quote(inspect_exe()) + " " + args + " > " + iotest::shell_quote(out) + " 2> " +
                              iotest::shell_quote(err))
                                 .c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, iotest::read_bytes(out), iotest::read_bytes(err)};
}
}  // namespace

TEST_CASE("graft-inspect --json agrees with NumPy on every test file", "[io]") {
  const std::string exe = inspect_exe();
  iotest::NumpyRef ref;
  ref.make("npy", "npy");
  ref.make("npz", "npz");
  ref.make("dicts", "dicts");
  // graft's own files too.
  WeightsDict w;
  Array a(DType::f4, Shape{3, 3, 2, 4});
  for (int64_t i = 0; i < a.size(); ++i) {
    const float v = 0.01f * float(i * i % 97) - 0.3f;
    std::memcpy(a.data() + 4 * i, &v, 4);
  }
  w.add("conv1", "weights", a);
  w.add("conv1", "biases", Array(DType::f8, Shape{4}));
  write_weights(ref.path("graft.npy"), w);
  write_weights(ref.path("graft.npz"), w, WeightsFormat::npz_compressed);
  std::string files = iotest::shell_quote(ref.path("npy")) + " " + iotest::shell_quote(ref.path("npz"));
  for (const char* f : {"dicts/p2.npy", "dicts/p3.npy", "dicts/p4.npy", "dicts/list.npy", "graft.npy", "graft.npz"})
    files += " " + iotest::shell_quote(ref.path(f));
  CHECK(ref.run("inspect", "", iotest::shell_quote(exe) + " " + files) == 0);
}

TEST_CASE("graft-inspect --json agrees with NumPy on the real det1/det2/det3.npy", "[io]") {
  const std::string exe = inspect_exe();
  const std::string data = iotest::caffe_tf_dir();
  if (data.empty()) GRAFT_SKIP("no caffe-tensorflow/det{1,2,3}.npy in the data folder (set GRAFT_DATA or provide ../shared/data)");
  iotest::NumpyRef ref;
  CHECK(ref.run("inspect", "", iotest::shell_quote(exe) + " " + iotest::shell_quote(data)) == 0);
  // The table lists every array of det1 by layer/param.
  const Run r = run(ref, iotest::shell_quote(data + "/det1.npy"));
  CHECK(r.rc == 0);
  CHECK(r.out.find("13 arrays") != std::string::npos);
  CHECK(r.out.find("conv1/weights") != std::string::npos);
  CHECK(r.out.find("PReLU3/alpha") != std::string::npos);
}

TEST_CASE("graft-inspect exits 1 with one line on stderr for each malformed file", "[io]") {
  inspect_exe();
  iotest::TempDir tmp;
  for (const auto& bad : iotest::malformed_corpus()) {
    INFO(bad.name);
    const std::string path = tmp.path(bad.name);
    iotest::write_bytes(path, bad.bytes);
    const Run r = run(tmp, iotest::shell_quote(path) + " --json");
    INFO("stderr: " << r.err);
    CHECK(r.rc == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("graft-inspect: " + path + ": ") == 0);
    CHECK(r.err.find(bad.expect) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.back() == '\n');
  }
}

TEST_CASE("graft-inspect's command line", "[io]") {
  inspect_exe();
  iotest::TempDir tmp;
  CHECK(run(tmp, "").rc == 2);
  CHECK(run(tmp, "--bogus x.npy").rc == 2);
  const Run missing = run(tmp, iotest::shell_quote(tmp.path("missing.npy")));
  CHECK(missing.rc == 1);
  CHECK(missing.err.find("cannot open") != std::string::npos);
  const Run dir = run(tmp, iotest::shell_quote(tmp.dir()));
  CHECK(dir.rc == 1);
  CHECK(dir.err.find("not a regular file") != std::string::npos);
  write_npy(tmp.path("x.npy"), Array(DType::i4, Shape{2, 5}));
  const Run ok = run(tmp, iotest::shell_quote(tmp.path("x.npy")) + " --json");
  CHECK(ok.rc == 0);
  CHECK(ok.out == "{\"arrays\": [\n  {\"name\": \"x\", \"dtype\": \"int32\", \"shape\": [2, 5], \"min\": 0, \"max\": 0, \"mean\": 0}\n]}\n");
  CHECK(run(tmp, "--help").rc == 0);
}
