#!/usr/bin/env bash
# Fetches XGrammar's C++ sources (Apache-2.0; the structured-generation engine vLLM, SGLang and
# TensorRT-LLM use) from its PyPI sdist, pinned and sha256-checked, into third_party/xgrammar/src.
# third_party/xgrammar/CMakeLists.txt builds them as a static library without the Python
# bindings. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.2.9
SDIST=xgrammar-${VERSION}.tar.gz
SHA256=87b466bca2475e29bb0323abc62c6c33cbcbcff47e5fb800a3e2099ac9620b90
URL=https://files.pythonhosted.org/packages/3a/2f/5bf8e8fa6619cff534932f79b0abc81a417d354bc5093252c1a6081d0a93/$SDIST
DEST=third_party/xgrammar/src

[[ -f $DEST/.complete-$VERSION ]] && exit 0
mkdir -p .cache
if [[ ! -f .cache/$SDIST ]]; then
  curl -sSfL --retry 3 -o ".cache/$SDIST.part" "$URL" && mv ".cache/$SDIST.part" ".cache/$SDIST"
fi
echo "$SHA256  .cache/$SDIST" | sha256sum --check --status || {
  echo "fetch_xgrammar: sha256 mismatch for $SDIST" >&2; rm -f ".cache/$SDIST"; exit 1; }
rm -rf "$DEST" && mkdir -p "$DEST"
# Only what the library needs: its sources and headers, picojson and dlpack, and the licenses.
tar xzf ".cache/$SDIST" -C "$DEST" --strip-components=1 --exclude='*/cpp/tvm_ffi' \
  "xgrammar-$VERSION/cpp" "xgrammar-$VERSION/include" "xgrammar-$VERSION/3rdparty/picojson" \
  "xgrammar-$VERSION/3rdparty/dlpack/include" "xgrammar-$VERSION/LICENSE" "xgrammar-$VERSION/NOTICE"
touch "$DEST/.complete-$VERSION"
echo "fetch_xgrammar: $DEST ready (XGrammar $VERSION)" >&2
