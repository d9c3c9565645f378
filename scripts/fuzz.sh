#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in build-fuzz, then runs
# each for SECONDS (default 30) from its seed corpus (tests/fuzz/corpus/<target>, read only; new
# inputs go to build-fuzz/fuzz/<target>/corpus). Every seed runs first, so past findings (kept
# in the corpus as finding-*) are regression tests. Prints one JSON line per target (executions,
# coverage, new inputs) and exits 1 on any finding, whose input is kept under
# build-fuzz/fuzz/<target>/ (add it to the seed corpus once fixed).
#     scripts/fuzz.sh 30                  # what .ci/run does
#     scripts/fuzz.sh 600 fuzz_gguf       # a longer run of one target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_openai_request fuzz_gguf fuzz_safetensors fuzz_tokenizer
                                 fuzz_chat_template fuzz_kv_profile)
build=${XQ_FUZZ_BUILD_DIR:-build-fuzz}

if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DXQ_SANITIZE=ON -DXQ_FUZZ=ON -DXQ_ENABLE_CUDA=OFF -DXQ_BUILD_BENCH=OFF > /dev/null
fi
ninja -C "$build" -j "${JOBS:-2}" "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  work="$build/fuzz/$t"
  rm -rf "$work" && mkdir -p "$work/corpus"
  log="$work/log.txt"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: runaway memory is a finding.
  if ! "$build/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$t" \
      > "$log" 2>&1; then
    status=1
    echo "fuzz: $t found a problem; the input is in $work/, the report:" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==|runtime error|Test unit written" "$log" | head -20 >&2
  fi
  python3 - "$t" "$log" "$work/corpus" <<'PY'
import json, os, re, sys
target, log, corpus = sys.argv[1:]
text = open(log, errors="replace").read()
stat = dict(re.findall(r"stat::(\w+):\s+(\d+)", text))
cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
print(json.dumps({"target": target, "executions": int(stat.get("number_of_executed_units", 0)),
                  "exec_per_s": int(stat.get("average_exec_per_sec", 0)),
                  "peak_rss_mb": int(stat.get("peak_rss_mb", 0)),
                  "coverage_edges": int(cov[-1][0]) if cov else 0,
                  "features": int(cov[-1][1]) if cov else 0,
                  "new_inputs": len(os.listdir(corpus))}))
PY
done
exit $status
