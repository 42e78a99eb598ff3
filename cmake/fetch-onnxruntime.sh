#!/usr/bin/env bash
# Puts onnxruntime (PyPI's CPU wheel, fetched with pip's own client) into a virtual
# environment in graft's cache, outside the repository, and prints its Python. The [onnx]
# tests run graft's exported models in it, a runtime graft does not contain. The environment
# sees the system's packages (--system-site-packages: Debian's numpy, onnx, cv2), so pip adds
# onnxruntime and what it needs beyond them. Idempotent: a working environment is reused
# without touching the network.
#   cmake/fetch-onnxruntime.sh          -> prints the Python (exit 0), or why not (exit 1)
# Cache: ${GRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/graft}/venv-onnx/. The tests look
# there too, or at $GRAFT_ONNXRUNTIME_PYTHON when it is set.
set -euo pipefail
cache="${GRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/graft}"
venv="$cache/venv-onnx"
works() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import onnxruntime, numpy" >/dev/null 2>&1; }

if works; then echo "$venv/bin/python"; exit 0; fi
py=/usr/bin/python3  # Debian's; another python3 on PATH may lack venv or the system packages
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -z "$py" ] || ! "$py" -m venv --help >/dev/null 2>&1; then
  echo "fetch-onnxruntime: needs Python's venv module (apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$cache"
rm -rf "$venv"
fail() { rm -rf "$venv"; echo "fetch-onnxruntime: $1" >&2; exit 1; }
"$py" -m venv --system-site-packages "$venv" >&2 || fail "cannot create a virtual environment (apt-get install python3-venv)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check onnxruntime >&2 ||
  fail "pip install onnxruntime failed (no network?)"
works || fail "onnxruntime installed but does not import"
echo "$venv/bin/python"
