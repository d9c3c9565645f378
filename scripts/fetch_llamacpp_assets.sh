#!/usr/bin/env bash
# Extracts test assets from llama.cpp's source (MIT), as shipped in the PyPI sdist of
# llama-cpp-python (pinned, sha256-checked): vocab-only GGUF files with their expected
# tokenizations (*.inp / *.out) and real models' chat templates (templates/*.jinja).
# Puts them in models/llamacpp/. Idempotent; nothing is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.3.36
SDIST=llama_cpp_python-${VERSION}.tar.gz
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
DEST=models/llamacpp

[[ -f $DEST/.complete-$VERSION ]] && exit 0
mkdir -p models/.download "$DEST"
if [[ ! -f models/.download/$SDIST ]]; then
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" \
    -d models/.download >&2
fi
echo "$SHA256  models/.download/$SDIST" | sha256sum --check --status || {
  echo "fetch_llamacpp_assets: sha256 mismatch for $SDIST" >&2; rm -f "models/.download/$SDIST"; exit 1; }
prefix=llama_cpp_python-${VERSION}/vendor/llama.cpp/models
tar xzf "models/.download/$SDIST" -C "$DEST" --strip-components=4 \
  --wildcards "$prefix/ggml-vocab-*" "$prefix/templates/*"
rm -f "models/.download/$SDIST"
touch "$DEST/.complete-$VERSION"
echo "fetch_llamacpp_assets: $DEST ready" >&2
