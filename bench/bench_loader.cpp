// graft-bench-loader: images per second of the data loader, graft against PyTorch's
// DataLoader + torchvision (bench_loader_torch.py), with the same files, the same work per
// image and the same number of workers, run alternately (graft, torch, graft, torch, ...)
// so that both see the same machine load; the ratio of the medians is printed last.
//
// Work per image: read and decode a 200x200 JPEG, resize the shorter side to 256, random
// 224x224 crop, random horizontal flip, VGG-Face preprocessing into an (N, 3, 224, 224)
// float batch. The images are the first --images UTKFace files when the data folder is
// there (GRAFT_DATA or ../shared/data), otherwise generated 200x200 JPEGs in a temporary
// folder. Each run warms up with one epoch, then times --epochs epochs.
//
//   graft-bench-loader [--quick] [--images N] [--workers W] [--batch B] [--rounds R]
//                      [--epochs E] [--data DIR] [--python PATH] [--no-torch]
#include <stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "graft/data.hpp"

namespace fs = std::filesystem;
using namespace graft;
using namespace graft::data;

namespace {

struct Args {
  int images = 2048, workers = 2, batch = 32, rounds = 3, epochs = 1;
  std::string data, python = GRAFT_BENCH_PYTHON;
  bool torch = true, quick = false;
};

Args parse(int argc, char** argv) {
  Args a;
  a.data = data_dir(GRAFT_SOURCE_DIR, "utkface").string();
  bool images_set = false, rounds_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--quick") a.quick = true;
    else if (k == "--no-torch") a.torch = false;
    else if (k == "--images") a.images = std::stoi(value()), images_set = true;
    else if (k == "--workers") a.workers = std::stoi(value());
    else if (k == "--batch") a.batch = std::stoi(value());
    else if (k == "--rounds") a.rounds = std::stoi(value()), rounds_set = true;
    else if (k == "--epochs") a.epochs = std::stoi(value());
    else if (k == "--data") a.data = value();
    else if (k == "--python") a.python = value();
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--images N] [--workers W] [--batch B] [--rounds R] "
                   "[--epochs E] [--data DIR] [--python PATH] [--no-torch]\n", argv[0]);
      std::exit(2);
    }
  }
  if (a.quick) {
    if (!images_set) a.images = 256;
    if (!rounds_set) a.rounds = 1;
  }
  return a;
}

// Smooth colour gradients with a few blobs and noise, 200x200, JPEG quality 90: roughly the
// size and decoding cost of a face crop.
void generate_jpegs(const fs::path& dir, int n, std::vector<std::string>& paths) {
  fs::create_directories(dir);
  std::vector<uint8_t> px(200 * 200 * 3);
  for (int i = 0; i < n; ++i) {
    Rng rng{static_cast<uint64_t>(i)};
    float cx = 200 * rng.uniform(), cy = 200 * rng.uniform(), r = 40 + 60 * rng.uniform();
    for (int y = 0; y < 200; ++y)
      for (int x = 0; x < 200; ++x) {
        float d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
        float blob = d < 1 ? 80 * (1 - d) : 0;
        for (int c = 0; c < 3; ++c) {
          float v = 60 + 0.4f * x * (c + 1) / 3 + 0.3f * y + blob + 12 * rng.uniform();
          px[size_t((y * 200 + x) * 3 + c)] = uint8_t(std::min(255.0f, v));
        }
      }
    std::string p = (dir / ("gen_" + std::to_string(i) + ".jpg")).string();
    if (!stbi_write_jpg(p.c_str(), 200, 200, 3, px.data(), 90)) {
      std::fprintf(stderr, "cannot write %s\n", p.c_str());
      std::exit(1);
    }
    paths.push_back(p);
  }
}

double run_graft(const Dataset& ds, const Args& a, double& checksum) {
  LoaderOptions o;
  o.batch_size = a.batch;
  o.workers = a.workers;
  o.seed = 1;
  Loader loader(ds, Transform::train(256, 224), o);
  double rate = 0;
  for (int e = 0; e <= a.epochs; ++e) {  // epoch 0 warms up
    auto t0 = std::chrono::steady_clock::now();
    int64_t n = 0;
    loader.start_epoch(e);
    while (const Batch* b = loader.next()) {
      n += b->size();
      checksum += b->images[0];
    }
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (e > 0) rate += n / dt / a.epochs;
  }
  return rate;
}

// Runs the PyTorch peer; returns its mean images/s, or a negative number when it failed.
double run_torch(const std::string& list, const Args& a) {
  std::string cmd = "'" + a.python + "' '" GRAFT_BENCH_SCRIPTS "/bench_loader_torch.py' --list '" + list +
                    "' --workers " + std::to_string(a.workers) + " --batch " + std::to_string(a.batch) +
                    " --epochs " + std::to_string(a.epochs) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char line[4096];
  double sum = 0;
  int got = 0;
  std::string out;
  while (std::fgets(line, sizeof line, p)) {
    double v;
    if (std::sscanf(line, "images_per_s %lf", &v) == 1) sum += v, ++got;
    else out += line;
  }
  int rc = pclose(p);
  if (rc != 0 || got == 0) {
    std::fprintf(stderr, "torch peer failed (exit %d):\n%s", rc, out.c_str());
    return -1;
  }
  return sum / got;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  const fs::path tmp = fs::temp_directory_path() / ("graft-bench-loader-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  int rc = 0;
  try {
    Dataset ds;
    std::string source;
    if (fs::is_directory(a.data)) {
      Dataset all = utkface(a.data);
      std::vector<int64_t> first;
      for (int64_t i = 0; i < std::min<int64_t>(a.images, all.size()); ++i) first.push_back(i);
      ds = all.select(first);
      source = "UTKFace (" + a.data + ")";
    } else {
      std::vector<std::string> paths;
      generate_jpegs(tmp / "images", a.images, paths);
      ds.name = "generated";
      ds.classes = {"a", "b"};
      for (size_t i = 0; i < paths.size(); ++i) {
        Sample s;
        s.path = paths[i];
        s.label = int32_t(i % 2);
        ds.samples.push_back(s);
      }
      source = "generated 200x200 JPEGs (no data folder at " + a.data + ")";
    }
    const std::string list = (tmp / "files.txt").string();
    {
      std::ofstream f(list);
      for (const auto& s : ds.samples) f << s.path << "\n";
    }
    std::printf("graft-bench-loader: %lld images from %s\n", (long long)ds.size(), source.c_str());
    std::printf("work: decode, resize shorter side to 256, random crop 224, random flip, VGG-Face "
                "preprocessing; batch %d, %d workers, %d round(s) of %d timed epoch(s)\n",
                a.batch, a.workers, a.rounds, a.epochs);
    std::printf("machine: %s, %u hardware threads\n", cpu_model().c_str(), std::thread::hardware_concurrency());
    std::fflush(stdout);

    std::vector<double> g, t;
    double checksum = 0;
    bool torch_ok = a.torch;
    for (int r = 0; r < a.rounds; ++r) {
      g.push_back(run_graft(ds, a, checksum));
      std::printf("round %d  graft: %8.1f images/s\n", r + 1, g.back());
      std::fflush(stdout);
      if (torch_ok) {
        double v = run_torch(list, a);
        if (v < 0) {
          torch_ok = false;
        } else {
          t.push_back(v);
          std::printf("round %d  torch: %8.1f images/s\n", r + 1, v);
          std::fflush(stdout);
        }
      }
    }
    std::printf("median  graft: %8.1f images/s  (checksum %g)\n", median(g), checksum);
    if (torch_ok && !t.empty()) {
      std::printf("median  torch: %8.1f images/s\n", median(t));
      std::printf("ratio graft/torch: %.2f\n", median(g) / median(t));
    } else {
      std::printf("ratio graft/torch: n/a (torch peer %s)\n", a.torch ? "unavailable" : "not run");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graft-bench-loader: %s\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return rc;
}
