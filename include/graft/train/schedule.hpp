// Learning-rate schedules (a factor on the optimizer's rate, by epoch) and staged
// fine-tuning plans ("fc8 for 5 epochs, then conv5_1 and up for 3 at lr x0.1").
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace train {

struct Schedule {
  enum Kind { Constant, Step, Cosine } kind = Constant;
  int step_epochs = 10;      // Step: multiply by gamma every step_epochs
  float gamma = 0.1f;
  int total_epochs = 1;      // Cosine: from 1 down to min_factor over total_epochs
  float min_factor = 0.0f;

  // The factor at (possibly fractional) epoch e, counted from 0.
  float factor(double e) const {
    switch (kind) {
      case Step: return std::pow(gamma, std::floor(e / step_epochs));
      case Cosine: {
        const double t = std::min(1.0, std::max(0.0, e / std::max(1, total_epochs)));
        return float(min_factor + (1 - min_factor) * 0.5 * (1 + std::cos(3.141592653589793 * t)));
      }
      default: return 1.0f;
    }
  }

  // "constant", "step:10:0.1", "cosine" (over the run's epochs) or "cosine:0.01" (floor).
  static Schedule parse(const std::string& s, int total_epochs) {
    Schedule r;
    r.total_epochs = total_epochs;
    auto parts = split(s, ':');
    if (parts.empty() || parts[0] == "constant") return r;
    if (parts[0] == "step") {
      r.kind = Step;
      if (parts.size() > 1) r.step_epochs = std::atoi(parts[1].c_str());
      if (parts.size() > 2) r.gamma = float(std::atof(parts[2].c_str()));
      GRAFT_CHECK(r.step_epochs > 0 && r.gamma > 0, "schedule '", s, "': expected step:EPOCHS:GAMMA");
      return r;
    }
    if (parts[0] == "cosine") {
      r.kind = Cosine;
      if (parts.size() > 1) r.min_factor = float(std::atof(parts[1].c_str()));
      return r;
    }
    GRAFT_FAIL("schedule '", s, "': expected constant, step:EPOCHS:GAMMA or cosine[:MIN]");
  }

  static std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(sep, start);
      if (end == std::string::npos) end = s.size();
      out.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
};

// One stage of fine-tuning: layers from `from` to the top learn (all below are frozen)
// for `epochs` epochs, at the optimizer's rate times lr_scale.
struct Stage {
  std::string from;
  int epochs = 1;
  float lr_scale = 1.0f;
};

// "fc8:5,conv5_1:3:0.1" -> {fc8, 5 epochs, x1}, {conv5_1, 3 epochs, x0.1}. "all:4" lets
// every layer learn.
inline std::vector<Stage> parse_stages(const std::string& s) {
  std::vector<Stage> out;
  for (const auto& item : Schedule::split(s, ',')) {
    if (item.empty()) continue;
    auto f = Schedule::split(item, ':');
    GRAFT_CHECK(f.size() == 2 || f.size() == 3, "stages '", s, "': '", item,
                "' is not LAYER:EPOCHS or LAYER:EPOCHS:LR_SCALE");
    Stage st;
    st.from = f[0];
    char* end = nullptr;
    st.epochs = static_cast<int>(std::strtol(f[1].c_str(), &end, 10));
    GRAFT_CHECK(!f[1].empty() && *end == 0 && st.epochs >= 0, "stages '", s, "': bad epoch count '", f[1], "'");
    if (f.size() == 3) {
      st.lr_scale = std::strtof(f[2].c_str(), &end);
      GRAFT_CHECK(!f[2].empty() && *end == 0 && st.lr_scale > 0, "stages '", s, "': bad learning-rate scale '", f[2], "'");
    }
    out.push_back(st);
  }
  GRAFT_CHECK(!out.empty(), "stages '", s, "': no stage given");
  return out;
}

}  // namespace train
}  // namespace graft
