#!/usr/bin/env bash
# Serving throughput and latency of xquant serve against llama-server (built by
# bench/build_llama_server.sh from the pinned llama.cpp sources), same GGUF, same threads, the
# same KV memory (llama-server: one slot per stream, CTX_PER_SLOT tokens each, fp16 cache, -fa off;
# xquant: that many bytes of --kv-cache-memory), one load generator (bench/serve_load.py:
# streaming completions, ~330-token prompts, 64 tokens out) at each concurrency, back to back.
#   bench/serving_compare.sh                 # 1, 16 and 64 streams
#   CONCURRENCY="16" bench/serving_compare.sh
#   XQ_ARGS="--kv-profile xquant-1.38" bench/serving_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
CONCURRENCY=${CONCURRENCY:-1 16 64}
CTX_PER_SLOT=${CTX_PER_SLOT:-1024}
PORT=${PORT:-18431}
# fp16 K and V per token of the model: layers x 2 x kv heads x head dim x 2 bytes.
KV_BYTES_PER_TOKEN=$(python3 - "$MODEL" <<'PY'
import sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
f = {k: v.contents() for k, v in r.fields.items() if k.startswith("llama.")}
heads, kv_heads = f["llama.attention.head_count"], f["llama.attention.head_count_kv"]
print(f["llama.block_count"] * 2 * kv_heads * f["llama.embedding_length"] // heads * 2)
PY
)
llama_server=$(bench/build_llama_server.sh)

server=
stop_server() {
  if [[ -n $server ]]; then kill -INT "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; fi
  server=
}

log=$(mktemp)
trap 'stop_server; rm -f "$log"' EXIT
wait_ready() {
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && return
    sleep 0.5
  done
  echo "serving_compare: the server never became ready:" >&2
  tail -n 5 "$log" >&2
  exit 1
}

load() {  # load CONCURRENCY: one JSON line
  python3 bench/serve_load.py --url "http://127.0.0.1:$PORT/v1" --concurrency "$1" | tail -n 1
}

rows=()
for c in $CONCURRENCY; do
  slots_ctx=$((c * CTX_PER_SLOT))
  kv_bytes=$((slots_ctx * KV_BYTES_PER_TOKEN))
  # shellcheck disable=SC2086  # XQ_ARGS is a list of flags
  build/bin/xquant serve --model "$MODEL" --port "$PORT" --grpc-port 0 --threads "$THREADS" \
    --kv-cache-memory "$kv_bytes" --max-num-seqs "$c" --access-log false ${XQ_ARGS:-} 2> "$log" &
  server=$!
  wait_ready
  ours=$(load "$c")
  stop_server
  "$llama_server" -m "$MODEL" --port "$PORT" -t "$THREADS" -np "$c" -c "$slots_ctx" -fa off \
    > "$log" 2>&1 &
  server=$!
  wait_ready
  theirs=$(load "$c")
  stop_server
  rows+=("{\"concurrency\": $c, \"kv_bytes\": $kv_bytes, \"xquant\": $ours, \"llama_server\": $theirs}")
done

python3 - "${rows[@]}" <<'PY'
import json, sys
rows = [json.loads(r) for r in sys.argv[1:]]
cols = ["output_tps", "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p99", "errors"]
print(f"{'streams':>7} {'server':>12}" + "".join(f"{c:>13}" for c in cols))
for r in rows:
    for name in ("xquant", "llama_server"):
        print(f"{r['concurrency']:>7} {name:>12}" + "".join(f"{r[name][c]:>13.1f}" for c in cols))
    print(f"{'':>7} {'ratio':>12}{r['xquant']['output_tps'] / r['llama_server']['output_tps']:>12.2f}x")
print(json.dumps(rows))
PY
