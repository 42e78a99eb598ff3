// [io] Hostile and broken files: each gives one graft::Error naming the file and what is
// wrong; none crashes, hangs or allocates what the file merely claims (the process runs
// under a 3 GiB address-space limit, so a huge allocation would fail as std::bad_alloc).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include "graft/io/weights.hpp"
#include "support/io_corpus.hpp"
#include "support/io_files.hpp"

using namespace graft;
using namespace graft::io;

namespace {
void limit_memory() {
  struct rlimit r;
  r.rlim_cur = r.rlim_max = rlim_t(3) << 30;
  REQUIRE(setrlimit(RLIMIT_AS, &r) == 0);
}

// Reads `bytes` as graft-inspect does; returns "" on success, else the graft::Error message.
// Any other exception fails the test.
std::string try_read(const std::string& bytes, const std::string& name) {
  MemorySource src(bytes.data(), bytes.size(), name);
  try {
    read_arrays(src);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

// Valid files of every kind, written by graft; the real det1.npy when the data is here.
std::vector<std::pair<std::string, std::string>> valid_files() {
  iotest::TempDir tmp;
  std::vector<std::pair<std::string, std::string>> out;
  const Array a = iotest::small_array();
  Array b(DType::f8, Shape{3});
  for (size_t i = 0; i < b.nbytes(); ++i) b.data()[i] = static_cast<uint8_t>(i * 5);
  write_npy(tmp.path("a.npy"), a);
  write_npz(tmp.path("s.npz"), {{"x/weights", a}, {"x/biases", b}}, Compression::stored);
  write_npz(tmp.path("d.npz"), {{"x/weights", a}, {"x/biases", b}}, Compression::deflated);
  WeightsDict w;
  w.add("conv1", "weights", a);
  w.add("conv1", "biases", b);
  w.add("fc", "weights", a);
  write_weights(tmp.path("w.npy"), w);
  for (const char* f : {"a.npy", "s.npz", "d.npz", "w.npy"}) out.push_back({f, iotest::read_bytes(tmp.path(f))});
  out.push_back({"hand.npy", iotest::npy_v1("{'descr': '>f4', 'fortran_order': True, 'shape': (2L, 2L), }", std::string(16, 'q'))});
  const std::string data = iotest::caffe_tf_dir();
  if (!data.empty()) out.push_back({"det1.npy", iotest::read_bytes(data + "/det1.npy")});
  return out;
}
}  // namespace

TEST_CASE("each file of the malformed corpus gives a clear graft::Error", "[io]") {
  limit_memory();
  iotest::TempDir tmp;
  const auto corpus = iotest::malformed_corpus();
  REQUIRE(corpus.size() > 60);
  for (const auto& bad : corpus) {
    INFO(bad.name);
    const std::string path = tmp.path(bad.name);
    iotest::write_bytes(path, bad.bytes);
    std::string message;
    try {
      read_arrays(path);
    } catch (const Error& e) {
      message = e.what();
    }
    INFO("message: " << message);
    CHECK(message.find(path) == 0);  // the file first
    CHECK(message.find(bad.expect) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    // The weights reader refuses it as well.
    CHECK_THROWS_AS(read_weights(path), Error);
  }
}

TEST_CASE("the offset of a refused pickle global is reported", "[io]") {
  iotest::TempDir tmp;
  const std::string path = tmp.path("evil.npy");
  const std::string pickle = iotest::B("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.");
  iotest::write_bytes(path, iotest::npy_object(pickle));
  // GLOBAL is the pickle's second opcode, right after the 128-byte NPY prefix and PROTO 2.
  CHECK_THROWS_WITH(read_weights(path), Catch::StartsWith(path + ": offset 130: pickle GLOBAL: refusing global 'os.system'"));
}

TEST_CASE("every truncation of a valid file is an error, never a crash", "[io]") {
  limit_memory();
  size_t cases = 0;
  for (const auto& f : valid_files()) {
    INFO(f.first);
    REQUIRE(try_read(f.second, f.first).empty());  // the whole file is fine
    for (size_t n = 0; n < f.second.size(); ++n) {
      const std::string msg = try_read(f.second.substr(0, n), f.first);
      if (msg.empty()) FAIL("a prefix of " << n << " bytes was accepted");
      if (msg.find(f.first) != 0) FAIL("message does not start with the file: " << msg);
      ++cases;
    }
  }
  CHECK(cases > 1000);
}

TEST_CASE("corrupted bytes are read or refused, never a crash", "[io]") {
  limit_memory();
  size_t accepted = 0, refused = 0;
  for (const auto& f : valid_files()) {
    if (f.second.size() > 4096) continue;  // det1: covered by the fuzzers
    for (size_t i = 0; i < f.second.size(); ++i)
      for (unsigned char mask : {0x01, 0x80, 0xff}) {
        std::string m = f.second;
        m[i] = static_cast<char>(m[i] ^ mask);
        (try_read(m, f.first).empty() ? accepted : refused)++;
      }
  }
  INFO("accepted " << accepted << ", refused " << refused);
  CHECK(refused > accepted / 4);  // header and structure bytes matter; data bytes may change freely
}
