#!/usr/bin/env bash
# Builds llama.cpp's llama-server, our serving peer, from the llama.cpp sources inside the
# pinned, sha256-checked llama-cpp-python sdist (the version our other llama.cpp comparisons
# use), with CMake, into .cache/llama-server-VERSION/. Prints the binary's path. Idempotent;
# several minutes on 2 cores the first time.
#   bench/build_llama_server.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.3.36
SDIST=llama_cpp_python-${VERSION}.tar.gz
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
ROOT=.cache/llama-server-$VERSION
BINARY=$ROOT/build/bin/llama-server

if [[ ! -x $BINARY ]]; then
  mkdir -p "$ROOT"
  if [[ ! -f $ROOT/$SDIST ]]; then
    python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" \
      -d "$ROOT" >&2
  fi
  echo "$SHA256  $ROOT/$SDIST" | sha256sum --check --status || {
    echo "build_llama_server: sha256 mismatch for $SDIST" >&2; rm -f "$ROOT/$SDIST"; exit 1; }
  tar xzf "$ROOT/$SDIST" -C "$ROOT" --strip-components=2 "llama_cpp_python-$VERSION/vendor/llama.cpp"
  # -fa off at run time matches llama-cpp-python's numerics; no web UI, no curl: a bare server.
  launcher=()
  if command -v ccache > /dev/null; then launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$ROOT/llama.cpp" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON "${launcher[@]}" > /dev/null
  cmake --build "$ROOT/build" -j "${JOBS:-2}" --target llama-server >&2
fi
echo "$BINARY"
