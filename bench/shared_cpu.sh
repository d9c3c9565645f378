#!/usr/bin/env bash
# Batch-1 decode and prefill on an idle machine and on one shared with busy processes (one per
# core, then one per two cores), so a thread pool that spins too long (or sleeps too eagerly)
# shows up as a ratio. With --vs BINARY [ENV=VALUE...] the same runs of a second build (e.g. one
# from before a change, under OMP_WAIT_POLICY=ACTIVE or PASSIVE) are interleaved with ours.
#   bench/shared_cpu.sh                                  # this build
#   bench/shared_cpu.sh --vs /tmp/xquant-old OMP_WAIT_POLICY=PASSIVE
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ours=(build/bin/xquant)
theirs=()
if [[ ${1:-} == --vs ]]; then
  theirs=(env "${@:3}" "$2")
fi
cores=$(nproc)

bench() {  # bench COMMAND...: one JSON line of batch-1 prefill and decode tok/s
  "$@" bench --model "$MODEL" --threads "$THREADS" --prefill-tokens 256 --decode-tokens 128 \
    --repeats 3 2>/dev/null | python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read())))'
}

busy=()
start_busy() {  # start_busy N: N processes that each spin one core
  for _ in $(seq "$1"); do
    python3 -c 'while True: pass' &
    busy+=($!)
  done
}
stop_busy() {
  if ((${#busy[@]})); then kill "${busy[@]}" 2> /dev/null || true; wait "${busy[@]}" 2> /dev/null || true; fi
  busy=()
}
trap stop_busy EXIT

results=()
for load in 0 $((cores / 2)) "$cores"; do
  start_busy "$load"
  sleep 0.5
  row="{\"busy\": $load, \"ours\": $(bench "${ours[@]}")"
  if ((${#theirs[@]})); then row+=", \"theirs\": $(bench "${theirs[@]}")"; fi
  results+=("$row}")
  stop_busy
done
python3 - "$cores" "${results[@]}" <<'PY'
import json, sys
cores, rows = sys.argv[1], [json.loads(r) for r in sys.argv[2:]]
idle = rows[0]["ours"]
print(f"cores {cores}; busy = spinning processes beside the benchmark")
header = f"{'busy':>5}{'decode tok/s':>14}{'vs idle':>9}{'prefill tok/s':>15}"
if "theirs" in rows[0]:
    header += f"{'theirs decode':>15}{'ours/theirs':>13}{'theirs prefill':>16}{'ours/theirs':>13}"
print(header)
for r in rows:
    o = r["ours"]
    line = f"{r['busy']:>5}{o['decode_tps']:14.1f}{o['decode_tps'] / idle['decode_tps']:8.2f}x{o['prefill_tps']:15.1f}"
    if "theirs" in r:
        t = r["theirs"]
        line += (f"{t['decode_tps']:15.1f}{o['decode_tps'] / t['decode_tps']:12.2f}x"
                 f"{t['prefill_tps']:16.1f}{o['prefill_tps'] / t['prefill_tps']:12.2f}x")
    print(line)
print(json.dumps(rows))
PY
