#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (GCC) in build-asan:
# every GoogleTest suite, and the Python suites against the sanitized server binary. Any report
# stops the program, so it fails its test. Third-party code is built as in the plain build.
#     scripts/sanitize.sh                      # what .ci/run does
set -euo pipefail
cd "$(dirname "$0")/.."
build=${XQ_ASAN_BUILD_DIR:-build-asan}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_SANITIZE=ON \
    -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF > /dev/null
fi
ninja -C "$build" -j "${JOBS:-2}"
# allocator_may_return_null: an impossible allocation throws std::bad_alloc as without ASan (a
# test asks for more KV memory than exists and expects the clear error).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}"
