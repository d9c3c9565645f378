#!/usr/bin/env bash
# Batch-1 prefill and decode throughput of xquant and llama.cpp on the same GGUF, same threads,
# run back to back (best of 3 each), printed as ratios. Needs llama-cpp-python built from source:
#   CMAKE_BUILD_PARALLEL_LEVEL=2 pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ours=$(build/bin/xquant bench --model "$MODEL" --threads "$THREADS" 2>/dev/null)
theirs=$(python3 bench/llamacpp_baseline.py "$THREADS" --model "$MODEL" 2>/dev/null | tail -n 1)
python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':24}{'xquant':>10}{'llama.cpp':>12}{'ratio':>8}")
for key, label in [("prefill_tps", f"prefill {a['prefill_tokens']} tok/s"),
                   ("decode_tps", f"decode tok/s")]:
    print(f"{label:24}{a[key]:10.1f}{b[key]:12.1f}{a[key] / b[key]:7.2f}x")
PY
