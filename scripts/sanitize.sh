#!/usr/bin/env bash
# Tests under AddressSanitizer + UndefinedBehaviorSanitizer (GCC). Any report stops the program,
# so it fails its test. Third-party code is built as in the plain build.
#     scripts/sanitize.sh          # the whole suite in build-asan: every GoogleTest suite and the
#                                  # Python suites against the sanitized server (about 40 min to
#                                  # build on 2 cores, 16 to run)
#     scripts/sanitize.sh --ci     # what .ci/run does: the engine's and kernels' suites (KV
#                                  # bookkeeping, scheduler, engine loop, runners, tokenizer,
#                                  # model loaders, sampling, grammar, every kernel and the CUDA
#                                  # code under emulation) at -O1 in build-asan-ci; the server's
#                                  # parsers are covered by the fuzzers, which run sanitized too
set -euo pipefail
cd "$(dirname "$0")/.."
# allocator_may_return_null: an impossible allocation throws std::bad_alloc as without ASan (a
# test asks for more KV memory than exists and expects the clear error).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [[ "${1:-}" != "--ci" ]]; then
  build=${XQ_ASAN_BUILD_DIR:-build-asan}
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_SANITIZE=ON \
      -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF > /dev/null
  fi
  ninja -C "$build" -j "${JOBS:-2}"
  ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}"
  exit
fi

suites=(
  test_block_pool test_kv_budget test_kv_profile test_kv_accounting test_kv_cache_manager
  test_prefix_cache test_scheduler test_engine_fake_runner test_engine_stress
  test_cpu_model_runner test_sampling test_tokenizer test_chat_template test_grammar
  test_gguf_model_loader test_safetensors test_hf_model_loader test_dequantize
  test_synthetic_model test_xquant_reference test_xquant_simd test_qgemm test_cpu_kernel_weights
  test_cpu_block_transcode
  test_half
  test_xquant_rotation test_thread_pool test_simt test_cuda_kernels_emulated test_quantize_window_emulated
  test_xquant_attention_emulated test_write_window_rows_emulated test_cuda_model_runner_emulated
  test_sample_tokens_emulated test_token_logprobs_emulated test_cuda_graph_emulated
  test_graph_batch test_cuda_graph test_decode_graphs test_step_table_arena
  test_engine_cuda_graphs test_qweight_kernels_emulated
)
build=${XQ_ASAN_BUILD_DIR:-build-asan-ci}
if [[ ! -f $build/build.ninja ]]; then
  # -O1: a third of -O3's compile time, and still fast enough to run the suites.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXQ_SANITIZE=ON \
    -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O1 -DNDEBUG" > /dev/null
fi
ninja -C "$build" -j "${JOBS:-2}" "${suites[@]}"
mkdir -p "$build/logs"
# Two suites at a time; a failing one prints the end of its log and fails the run.
printf '%s\n' "${suites[@]}" | xargs -P "${JOBS:-2}" -I{} sh -c '
  if "$0/bin/{}" > "$0/logs/{}.log" 2>&1; then echo "sanitized: {} passed"
  else echo "sanitized: {} FAILED (log: $0/logs/{}.log)"; tail -40 "$0/logs/{}.log"; exit 255; fi
' "$build"
