#!/usr/bin/env bash
# The HTTP transport's concurrency test (tests/server/http/transport) under ThreadSanitizer in
# build-tsan: I/O threads, handler threads and the session outbox they share. The transport is
# its own library, so this builds in about a minute.
#     scripts/tsan.sh                          # what .ci/run does
set -euo pipefail
cd "$(dirname "$0")/.."
build=${XQ_TSAN_BUILD_DIR:-build-tsan}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_TSAN=ON \
    -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF > /dev/null
fi
ninja -C "$build" -j "${JOBS:-2}" test_http_transport
# halt_on_error: a race fails the run. setarch -R: TSan's shadow memory needs the classic address
# layout, which high mmap randomization on recent kernels breaks.
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
  setarch "$(uname -m)" -R "$build/bin/test_http_transport"
