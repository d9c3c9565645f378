#!/usr/bin/env bash
# The concurrent parts under ThreadSanitizer in build-tsan:
#   - the HTTP transport (tests/server/http/transport): I/O threads, handler threads and the
#     session outbox they share;
#   - the engine (tests/engine/engine): its step thread against many submitting, streaming and
#     cancelling client threads, with a fake runner and with real tiny models, the forward pass
#     on the compute pool's threads;
#   - the compute pool itself (tests/kernels/thread_pool_test.cpp): regions, nesting, concurrent
#     callers, sleeping and waking workers;
#   - the server's shared pieces (tests/server/core), the health watcher's thread among them.
# OpenMP is left only inside OpenBLAS, whose runtime (libgomp) is not instrumented and would be
# reported falsely: it runs one thread. Builds in a few minutes (xgrammar comes from the plain
# build's ccache).
#     scripts/tsan.sh                          # what .ci/run does
set -euo pipefail
cd "$(dirname "$0")/.."
build=${XQ_TSAN_BUILD_DIR:-build-tsan}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_TSAN=ON \
    -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF > /dev/null
fi
suites=(test_http_transport test_thread_pool test_engine_fake_runner test_engine_stress
  test_server_core_shared)
ninja -C "$build" -j "${JOBS:-2}" "${suites[@]}"
# halt_on_error: a race fails the run. setarch -R: TSan's shadow memory needs the classic address
# layout, which high mmap randomization on recent kernels breaks.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
for suite in "${suites[@]}"; do
  echo "tsan: $suite" >&2
  OMP_NUM_THREADS=1 setarch "$(uname -m)" -R "$build/bin/$suite"
done
