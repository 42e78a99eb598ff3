// A flat JSON object for benchmark results: keys in insertion order, numbers, strings,
// lists of numbers and nested raw JSON. Enough for graft-bench's output, nothing more.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace graft {
namespace bench {

class Json {
 public:
  void num(const std::string& k, double v) { kv_.emplace_back(k, number(v)); }
  void str(const std::string& k, const std::string& v) { kv_.emplace_back(k, quote(v)); }
  void raw(const std::string& k, const std::string& json) { kv_.emplace_back(k, json); }
  void list(const std::string& k, const std::vector<double>& v, double scale) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + number(v[i] * scale);
    kv_.emplace_back(k, s + "]");
  }
  std::string dump() const {
    std::string s = "{";
    for (size_t i = 0; i < kv_.size(); ++i)
      s += (i ? ", " : "") + quote(kv_[i].first) + ": " + kv_[i].second;
    return s + "}";
  }
  // The value of a key as written (for the human-readable printout).
  std::string get(const std::string& k) const {
    for (auto& p : kv_)
      if (p.first == k) return p.second;
    return "";
  }
  const std::vector<std::pair<std::string, std::string>>& items() const { return kv_; }

  static std::string number(double v) {
    if (!std::isfinite(v)) return "null";
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
  }
  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

}  // namespace bench
}  // namespace graft
