#!/usr/bin/env bash
# Two builds of xquant back to back on the same machine, alternating run by run so drift hits
# both: batch-1 prefill/decode (`xquant bench`) and the engine's closed-loop throughput
# (`xquant bench --offline`). Prints each figure's median per build and the ratio new / old.
#   bench/compare_builds.sh OLD_BINARY NEW_BINARY [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 RUNS=${3:-5}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=$(mktemp -d)
for ((i = 0; i < RUNS; i++)); do
  for side in old new; do
    bin=$OLD; [[ $side == new ]] && bin=$NEW
    for profile in fp16 xquant-1.38; do
      "$bin" bench -m "$MODEL" --threads 2 --kv-profile "$profile" --repeats 1 2>/dev/null |
        sed "s/^/$side $profile batch1 /" >>"$OUT/runs"
      "$bin" bench --offline -m "$MODEL" --threads 2 --kv-profile "$profile" \
        --kv-cache-memory 320MiB --concurrency 16 --prompt-tokens 256 --output-tokens 64 \
        --requests 32 --json 2>/dev/null | sed "s/^/$side $profile offline /" >>"$OUT/runs"
    done
  done
done
python3 - "$OUT/runs" <<'PY'
import json, statistics, sys
from collections import defaultdict
values = defaultdict(list)
for line in open(sys.argv[1]):
    side, profile, kind, payload = line.split(" ", 3)
    for key, v in json.loads(payload).items():
        if isinstance(v, (int, float)) and key.endswith(("_tps", "tok_s", "per_s")):
            values[(profile, kind, key, side)].append(v)
print(f"{'profile':12}{'bench':9}{'figure':28}{'old':>10}{'new':>10}{'new/old':>9}")
for (profile, kind, key, side) in sorted(values):
    if side != "old" or (profile, kind, key, "new") not in values:
        continue
    old = statistics.median(values[(profile, kind, key, "old")])
    new = statistics.median(values[(profile, kind, key, "new")])
    print(f"{profile:12}{kind:9}{key:28}{old:10.1f}{new:10.1f}{new / old:9.3f}")
PY
