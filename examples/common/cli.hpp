// A small command-line parser for the example programs: --key value, --flag, positionals.
// Unknown options and bad values are errors that name the option (exit status 2).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace app {

class UsageError : public Error {
 public:
  using Error::Error;
};

class Args {
 public:
  // `flags`: options without a value (e.g. --json); every other --option takes one.
  Args(int argc, char** argv, std::set<std::string> flags) : flags_(std::move(flags)) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i) positional_.push_back(argv[i]);
        break;
      }
      if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
        std::string key = a.substr(2), value;
        const size_t eq = key.find('=');
        if (eq != std::string::npos) {
          value = key.substr(eq + 1);
          key = key.substr(0, eq);
        } else if (flags_.count(key)) {
          value = "1";
        } else {
          if (i + 1 >= argc) throw UsageError("option --" + key + " needs a value");
          value = argv[++i];
        }
        values_[key] = value;
      } else {
        positional_.push_back(a);
      }
    }
  }

  bool has(const std::string& key) { return used(key), values_.count(key) > 0; }
  bool flag(const std::string& key) { return has(key) && values_[key] != "0"; }
  std::string str(const std::string& key, const std::string& def = "") {
    used(key);
    auto it = values_.find(key);
    return it == values_.end() ? def : it->second;
  }
  double num(const std::string& key, double def) {
    used(key);
    auto it = values_.find(key);
    if (it == values_.end()) return def;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end) throw UsageError("option --" + key + ": '" + it->second + "' is not a number");
    return v;
  }
  int64_t integer(const std::string& key, int64_t def) {
    const double v = num(key, double(def));
    if (v != double(int64_t(v))) throw UsageError("option --" + key + ": expected a whole number");
    return int64_t(v);
  }
  const std::vector<std::string>& positional() const { return positional_; }

  // After reading every option: anything given but never asked for is a mistake.
  // Refuses options nobody asked for, and arguments that are not options unless the program
  // takes some (a stray value, e.g. after a flag, must not be ignored silently).
  void finish(bool takes_arguments = false) {
    for (const auto& kv : values_)
      if (!asked_.count(kv.first)) throw UsageError("unknown option --" + kv.first);
    if (!takes_arguments && !positional_.empty())
      throw UsageError("unexpected argument '" + positional_[0] + "' (this program takes options only)");
  }

 private:
  void used(const std::string& key) { asked_.insert(key); }
  std::set<std::string> flags_, asked_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

inline std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace app
}  // namespace graft
