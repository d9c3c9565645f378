#!/usr/bin/env bash
# Brings up deploy/compose.yaml (two xquant replicas behind nginx, Prometheus), sends chat
# requests through the balancer from several clients (streaming and not) for DURATION seconds,
# stops one replica halfway through, and checks that requests kept succeeding after the stop:
# only requests in flight on the stopped replica may fail. Then takes the stack down. Needs the
# local Debian base image (scripts/docker_smoke.sh makes it) and docker compose or docker-compose.
#   scripts/compose_smoke.sh [DURATION_S]      # default 90
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-90}

if docker compose version > /dev/null 2>&1; then
  compose() { docker compose -f deploy/compose.yaml "$@"; }
elif command -v docker-compose > /dev/null; then
  compose() { docker-compose -f deploy/compose.yaml "$@"; }
else
  echo "compose_smoke: neither docker compose nor docker-compose is installed" >&2
  exit 1
fi
log() { echo "compose_smoke: $*" >&2; }
trap 'compose down --timeout 30 > /dev/null 2>&1 || true' EXIT

log "building and starting the stack"
DOCKER_BUILDKIT=1 compose build
compose up -d
for _ in $(seq 180); do
  curl -sf localhost:8000/health > /dev/null 2>&1 && break
  sleep 1
done
curl -sf localhost:8000/health > /dev/null || { compose logs >&2; log "FAILED: no /health"; exit 1; }

log "load for ${DURATION}s through the balancer; xquant-b stops halfway"
(sleep $((DURATION / 2)) && log "stopping xquant-b" && compose stop -t 20 xquant-b > /dev/null) &
python3 - "$DURATION" <<'PY'
import sys
import threading
import time

import openai

duration = float(sys.argv[1])
client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused", max_retries=0,
                       timeout=120)
start = time.time()
lock = threading.Lock()
results = []  # (finished at, seconds since start, ok, what)


def one(i):
    messages = [{"role": "user", "content": f"Count from {i} to {i + 20}."}]
    if i % 2:
        stream = client.chat.completions.create(model="", messages=messages, max_tokens=48,
                                                stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    return client.chat.completions.create(model="", messages=messages,
                                          max_tokens=48).choices[0].message.content


def worker(w):
    i = w
    while time.time() - start < duration:
        began = time.time() - start
        try:
            one(i)
            ok, what = True, ""
        except Exception as e:  # noqa: BLE001: every failure is counted and shown
            ok, what = False, f"{type(e).__name__}: {e}"
        with lock:
            results.append((time.time() - start, began, ok, what))
        i += 8


threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()

half = duration / 2
failed = [r for r in results if not r[2]]
after = [r for r in results if r[1] > half + 25]  # began once the stop was over (20 s grace)
print(f"compose_smoke: {len(results)} requests, {len(failed)} failed; "
      f"{sum(r[2] for r in after)}/{len(after)} begun after the stop succeeded", file=sys.stderr)
for r in failed[:5]:
    print(f"  failed at {r[0]:.1f}s (began {r[1]:.1f}s): {r[3][:160]}", file=sys.stderr)
# Only requests that were running while xquant-b stopped may fail.
assert all(half - 1 <= r[1] <= half + 25 for r in failed), "a failure outside the stop"
assert after and all(r[2] for r in after), "requests failed after the stop"
PY
log "OK"
