#!/usr/bin/env bash
# Installs the CUDA toolkit the CUDA image builds with at PREFIX (default /usr/local/cuda), from
# NVIDIA's PyPI wheels pinned with their hashes in docker/cuda-requirements.txt, laid out the way
# nvcc.profile and CMake's FindCUDAToolkit expect: bin/, include/, lib/ (lib64 and
# targets/x86_64-linux pointing there) and nvvm/. The wheels ship only versioned libraries; the
# link step wants the unversioned names too. Needs python3 and pip; nothing from NVIDIA's own
# repositories or Docker Hub.
#   docker/cuda_toolkit.sh [PREFIX]
set -euo pipefail
prefix=${1:-/usr/local/cuda}
requirements=$(dirname "$0")/cuda-requirements.txt
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

python3 -m pip install --quiet --no-deps --require-hashes --target "$wheels" -r "$requirements"
mkdir -p "$prefix/targets/x86_64-linux"
cp -a "$wheels/nvidia/cu13/." "$prefix/"
ln -sfn lib "$prefix/lib64"
ln -sfn ../../include "$prefix/targets/x86_64-linux/include"
ln -sfn ../../lib "$prefix/targets/x86_64-linux/lib"
for versioned in "$prefix"/lib/lib*.so.*; do
  ln -sfn "$(basename "$versioned")" "${versioned%.so.*}.so"
done
"$prefix/bin/nvcc" --version | tail -1
