#!/usr/bin/env bash
# Engine throughput and capacity of fp16 against xquant-1.38 at the same KV memory budget:
# output tokens/s with 1, 8, 32 and 64 requests in flight, and how many 2K-token sequences each
# profile holds at once. One JSON line per run in $OUT, then a Markdown table on stdout.
#   bench/offline_matrix.sh [BUDGET] [OUT]      (defaults: 320MiB, bench/results/offline.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-320MiB}
OUT=${2:-bench/results/offline.jsonl}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
BIN=${BIN:-build/bin/xquant}
: > "$OUT"
run() {  # profile concurrency prompt output requests
  "$BIN" --log-level warn bench --offline --model "$MODEL" --kv-profile "$1" \
    --kv-cache-memory "$BUDGET" --concurrency "$2" --prompt-tokens "$3" --output-tokens "$4" \
    --requests "$5" --json | tee -a "$OUT"
}
for c in 1 8 32 64; do
  for p in fp16 xquant-1.38; do run "$p" "$c" 256 128 $((2 * c)); done
done
# Long enough outputs that admitted sequences pile up until memory, not prefill, limits them.
for p in fp16 xquant-1.38; do run "$p" 40 2016 192 40; done

python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def find(p, c, prompt):
    return next(r for r in rows if r["kv_profile"] == p and r["concurrency"] == c
                and r["prompt_tokens"] == prompt)
print(f"KV budget {rows[0]['kv_cache_memory']}; prompt 256 + output 128 tokens, 2 x concurrency requests\n")
print("| concurrency | fp16 out tok/s | xquant-1.38 out tok/s | ratio | fp16 preemptions | xquant preemptions | fp16 max seqs | xquant max seqs | fp16 TTFT s | xquant TTFT s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for c in (1, 8, 32, 64):
    a, b = find("fp16", c, 256), find("xquant-1.38", c, 256)
    print(f"| {c} | {a['output_tokens_per_s']:.1f} | {b['output_tokens_per_s']:.1f} | "
          f"{b['output_tokens_per_s'] / a['output_tokens_per_s']:.2f}x | {a['preemptions']} | "
          f"{b['preemptions']} | {a['max_concurrent_full_sequences']} | {b['max_concurrent_full_sequences']} | "
          f"{a['mean_ttft_s']:.1f} | {b['mean_ttft_s']:.1f} |")
a, b = find("fp16", 40, 2016), find("xquant-1.38", 40, 2016)
print(f"\n2K-token sequences (2016 + 192) held at once, 40 offered: fp16 "
      f"{a['max_concurrent_full_sequences']}, xquant-1.38 {b['max_concurrent_full_sequences']} "
      f"({b['max_concurrent_full_sequences'] / max(1, a['max_concurrent_full_sequences']):.1f}x); "
      f"output tok/s {a['output_tokens_per_s']:.1f} vs {b['output_tokens_per_s']:.1f}")
PY
