// graft::Error and the checks that raise it.
//
// Every failure the library can diagnose is a graft::Error whose message says what was
// wrong and where (file, layer, expected and actual shape), so a user never has to
// guess from a crash. GRAFT_CHECK builds the message only when the check fails.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace graft {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail

// Throws graft::Error with the streamed parts joined, e.g.
//   GRAFT_CHECK(x.rank() == 4, "conv1_1: expected a 4-d input, got ", x.str());
#define GRAFT_CHECK(cond, ...)                                           \
  do {                                                                   \
    if (!(cond)) throw ::graft::Error(::graft::detail::concat(__VA_ARGS__)); \
  } while (0)

#define GRAFT_FAIL(...) throw ::graft::Error(::graft::detail::concat(__VA_ARGS__))

}  // namespace graft
