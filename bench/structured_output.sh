#!/usr/bin/env bash
# Cost of structured outputs: engine output tokens/s with every output constrained to a JSON
# Schema (bench/schemas/people.json: an array of records that cannot end within the run, so both
# sides generate exactly the same number of tokens) against the same run unconstrained, at 1 and
# 32 requests in flight. A/B runs alternate, ROUNDS times each; medians and their ratio. One JSON
# line per run in $OUT, then a Markdown table on stdout.
#   bench/structured_output.sh [ROUNDS] [OUT]     (defaults: 3, bench/results/structured.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
OUT=${2:-bench/results/structured.jsonl}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
BIN=${BIN:-build/bin/xquant}
SCHEMA=bench/schemas/people.json
: > "$OUT"
run() {  # concurrency requests [--json-schema FILE]
  "$BIN" --log-level warn bench --offline --model "$MODEL" --concurrency "$1" --requests "$2" \
    --prompt-tokens 64 --output-tokens 128 --json "${@:3}" >> "$OUT"
}
for c in 1 32; do
  for ((i = 0; i < ROUNDS; ++i)); do
    run "$c" $((c == 1 ? 4 : 2 * c))
    run "$c" $((c == 1 ? 4 : 2 * c)) --json-schema "$SCHEMA"
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("Prompt 64 + output 128 tokens, greedy; output tokens/s (median of runs)\n")
print("| in flight | unconstrained | JSON schema | ratio | time per output token |")
print("| --- | --- | --- | --- | --- |")
for c in (1, 32):
    free = statistics.median(r["output_tokens_per_s"] for r in rows
                             if r["concurrency"] == c and "json_schema" not in r)
    cons = statistics.median(r["output_tokens_per_s"] for r in rows
                             if r["concurrency"] == c and "json_schema" in r)
    print(f"| {c} | {free:.1f} | {cons:.1f} | {cons / free:.3f}x | "
          f"{100 * (free / cons - 1):+.1f}% |")
ms = statistics.median(r["grammar_compile_ms"] for r in rows if "json_schema" in r)
print(f"\nFirst compile of the schema (vocabulary index included): {ms:.0f} ms (median)")
PY
