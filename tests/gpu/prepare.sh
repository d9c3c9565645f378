#!/usr/bin/env bash
# Builds, here, what tests/gpu/run_all.sh runs on a GPU machine. That machine has the CUDA
# toolkit and driver but none of our other build dependencies, so we ship binaries: the
# CUDA-enabled xquant and GPU test binaries plus the non-CUDA shared libraries they load, as
# .gpu/bundle.tar.xz (git-ignored; name .gpu in the device tool's `carry`; xz keeps it well
# under a call's 64 MiB, OpenBLAS alone being 36 MB). cuBLAS and the C/C++ runtimes come
# from the GPU machine. The default model (98 MB) is over one call's 64 MiB: --model splits it
# into .gpu-model-1/ (40 MB) and .gpu-model-2/ (the rest) for two calls, the machine keeping
# ignored files while warm: first `carry: [".gpu", ".gpu-model-1"]` with a quick command, then
# `carry: [".gpu-model-2"]` running tests/gpu/run_all.sh.
# Usage: tests/gpu/prepare.sh [--model]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_ENABLE_CUDA=ON \
  -DXQ_CUDA_ARCHS="${XQ_CUDA_ARCHS:-90}" > /dev/null
ninja -C build -j2 xquant test_cuda_model_runner_gpu cuda_attention_bench cuda_sampling_bench \
  cuda_qgemm_bench
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp build/bin/xquant build/bin/test_cuda_model_runner_gpu build/bin/cuda_attention_bench \
  build/bin/cuda_sampling_bench build/bin/cuda_qgemm_bench "$stage/bin/"
strip "$stage"/bin/*
ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux.*|libpthread|libdl|librt|libcublas|libcublasLt|libcudart)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
rm -rf .gpu && mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz bin lib
rm -rf .gpu-model-1 .gpu-model-2
if [[ "${1:-}" == "--model" ]]; then
  mkdir -p .gpu-model-1 .gpu-model-2
  model=models/SmolLM2-135M-Instruct.Q4_1.gguf
  head -c 40000000 $model > .gpu-model-1/part
  tail -c +40000001 $model > .gpu-model-2/part
fi
for ignored in /.gpu/ /.gpu-model-1/ /.gpu-model-2/; do
  grep -qx "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
done
du -sh .gpu
if [[ -d .gpu-model-1 ]]; then du -sh .gpu-model-*; fi
