// Where dlib's face-recognition model file is found (apart from dlib_face.hpp, so that code
// that reads the file without building the network needs no layers).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace graft {
namespace nn {

// The model file: $GRAFT_DLIB_MODEL, else graft's cache ($GRAFT_CACHE, $XDG_CACHE_HOME/graft
// or ~/.cache/graft, then dlib/), where cmake/fetch-dlib-model.sh puts it; "" when absent.
inline std::string dlib_face_model_path() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("GRAFT_DLIB_MODEL");
  if (env && *env) return fs::is_regular_file(env) ? std::string(env) : std::string();
  std::string cache;
  if (const char* c = std::getenv("GRAFT_CACHE"); c && *c) {
    cache = c;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    cache = std::string(x) + "/graft";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    cache = std::string(h) + "/.cache/graft";
  }
  if (cache.empty()) return "";
  const std::string p = cache + "/dlib/dlib_face_recognition_resnet_model_v1.dat";
  return fs::is_regular_file(p) ? p : std::string();
}

}  // namespace nn
}  // namespace graft
