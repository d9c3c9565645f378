#!/usr/bin/env bash
# Builds, here, what tests/gpu/run_all.sh runs on a GPU machine. That machine has the CUDA
# toolkit and driver but none of our other build dependencies, so we ship binaries: the
# CUDA-enabled xquant and GPU test binaries plus the non-CUDA shared libraries they load, into
# .gpu/ (git-ignored; name it in the device tool's `carry`). cuBLAS and the C/C++ runtimes come
# from the GPU machine. The default model (98 MB) is over one call's 64 MiB: pass --model to copy
# it in as .gpu/model.part-* pieces to carry in two calls (the machine keeps files while warm).
# Usage: tests/gpu/prepare.sh [--model]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_ENABLE_CUDA=ON \
  -DXQ_CUDA_ARCHS="${XQ_CUDA_ARCHS:-90}" > /dev/null
ninja -C build -j2 xquant test_cuda_model_runner_gpu cuda_attention_bench
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib
cp build/bin/xquant build/bin/test_cuda_model_runner_gpu build/bin/cuda_attention_bench .gpu/bin/
strip .gpu/bin/*
ldd .gpu/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux.*|libpthread|libdl|librt|libcublas|libcublasLt|libcudart)\.so' |
  while read -r lib; do cp -L "$lib" .gpu/lib/; done
if [[ "${1:-}" == "--model" ]]; then
  split -b 48M models/SmolLM2-135M-Instruct.Q4_1.gguf .gpu/model.part-
fi
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
du -sh .gpu
