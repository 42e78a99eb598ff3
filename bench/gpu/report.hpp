// Output of graft-bench-gpu: aligned text tables on stdout and one JSON object per line in
// the --json file (read by bench/gpu/summary.py to print gpu-check's closing table).
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace graft {
namespace bench {

class Report {
 public:
  explicit Report(const std::string& json_path) {
    if (!json_path.empty()) {
      json_ = std::fopen(json_path.c_str(), "a");
      if (!json_) std::fprintf(stderr, "graft-bench-gpu: cannot open %s for appending\n", json_path.c_str());
    }
  }
  ~Report() {
    if (json_) std::fclose(json_);
  }
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;

  // A JSON record: {"section": ..., key: value, ...}; strings are quoted, numbers are not.
  class Record {
   public:
    explicit Record(const char* section) { s_ = std::string("{\"section\": \"") + section + "\""; }
    Record& str(const char* key, const std::string& v) {
      s_ += std::string(", \"") + key + "\": \"" + escape(v) + "\"";
      return *this;
    }
    Record& num(const char* key, double v) {
      char b[64];
      std::snprintf(b, sizeof b, "%.6g", v);
      s_ += std::string(", \"") + key + "\": " + b;
      return *this;
    }
    std::string text() const { return s_ + "}"; }

   private:
    static std::string escape(const std::string& v) {
      std::string o;
      for (char c : v) {
        if (c == '"' || c == '\\') o += '\\';
        o += c;
      }
      return o;
    }
    std::string s_;
  };

  void write(const Record& r) {
    if (json_) {
      std::fprintf(json_, "%s\n", r.text().c_str());
      std::fflush(json_);
    }
  }

 private:
  std::FILE* json_ = nullptr;
};

inline void line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace bench
}  // namespace graft
