// Progress of long work: a bar with loss, images/s and ETA on a terminal, plain periodic
// lines otherwise (logs, CI).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace graft {
namespace app {

// Set on the ranks other than 0 of a data-parallel run: their bars stay silent.
inline bool& quiet_progress() {
  static bool q = false;
  return q;
}

class Progress {
 public:
  Progress(std::string what, int64_t total_images, double line_every_seconds = 10.0)
      : what_(std::move(what)), total_(total_images), every_(line_every_seconds),
        tty_(isatty(fileno(stderr)) != 0), t0_(std::chrono::steady_clock::now()) {}

  void update(int64_t images, double loss) {
    if (quiet_progress()) return;
    const double t = seconds();
    const double rate = t > 0 ? double(images) / t : 0;
    const double eta = rate > 0 && total_ > images ? double(total_ - images) / rate : 0;
    if (tty_) {
      const int width = 30;
      const int done = total_ > 0 ? int(width * std::min<double>(1.0, double(images) / double(total_))) : 0;
      std::string bar(size_t(done), '=');
      bar.resize(size_t(width), ' ');
      std::fprintf(stderr, "\r%s [%s] %5.1f%%  loss %.4f  %.0f img/s  ETA %s   ", what_.c_str(), bar.c_str(),
                   total_ ? 100.0 * double(images) / double(total_) : 0.0, loss, rate, clock(eta).c_str());
      std::fflush(stderr);
      dirty_ = true;
    } else if (t - last_ >= every_) {
      std::fprintf(stderr, "%s: %lld/%lld images, loss %.4f, %.0f img/s, ETA %s\n", what_.c_str(),
                   static_cast<long long>(images), static_cast<long long>(total_), loss, rate, clock(eta).c_str());
      last_ = t;
    }
  }
  void done() {
    if (tty_ && dirty_) std::fprintf(stderr, "\r%*s\r", 100, "");
    dirty_ = false;
  }
  ~Progress() { done(); }

 private:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  static std::string clock(double s) {
    char b[32];
    const int v = int(s + 0.5);
    std::snprintf(b, sizeof b, "%d:%02d", v / 60, v % 60);
    return b;
  }
  std::string what_;
  int64_t total_;
  double every_;
  bool tty_;
  bool dirty_ = false;
  double last_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace app
}  // namespace graft
