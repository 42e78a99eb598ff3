// Registers one Catch2 test case per layer case at static-initialisation time, so that each
// case is a test of its own (named in Catch2's output and in ctest) rather than a section.
#pragma once

#include <catch2/catch.hpp>

#include <deque>
#include <functional>
#include <string>

namespace graft {
namespace test {

class CaseInvoker : public Catch::ITestInvoker {
 public:
  explicit CaseInvoker(std::function<void()> f) : f_(std::move(f)) {}
  void invoke() const override { f_(); }

 private:
  std::function<void()> f_;
};

// Catch2 keeps StringRefs to the name and tags: they live here for the program's lifetime.
inline void register_case(const std::string& name, const std::string& tags, std::function<void()> run) {
  static std::deque<std::string> strings;
  strings.push_back(name);
  const std::string& n = strings.back();
  strings.push_back(tags);
  const std::string& t = strings.back();
  static std::deque<Catch::AutoReg> regs;  // AutoReg registers in its constructor
  regs.emplace_back(new CaseInvoker(std::move(run)), Catch::SourceLineInfo(__FILE__, __LINE__), Catch::StringRef(),
                    Catch::NameAndTags(Catch::StringRef(n.c_str(), n.size()), Catch::StringRef(t.c_str(), t.size())));
}

}  // namespace test
}  // namespace graft
