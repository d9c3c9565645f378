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
  compose() { docker compose -p xquant -f deploy/compose.yaml "$@"; }
elif command -v docker-compose > /dev/null; then
  compose() { docker-compose -p xquant -f deploy/compose.yaml "$@"; }
else
  echo "compose_smoke: neither docker compose nor docker-compose is installed" >&2
  exit 1
fi
log() { echo "compose_smoke: $*" >&2; }
trap 'compose down --timeout 30 > /dev/null 2>&1 || true' EXIT

# The images are built here rather than by compose: the server's Dockerfile needs BuildKit (a
# ccache mount), which docker-compose v1 does not use, and a docker client newer than 23 has
# only through buildx; Debian's docker.io client (/usr/bin/docker) has it built in.
DOCKER=docker
if ! docker buildx version > /dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; fi
log "building the images"
DOCKER_BUILDKIT=1 $DOCKER build --network host -f docker/Dockerfile -t xquant:latest .
DOCKER_BUILDKIT=1 $DOCKER build --network host -t xquant-balancer:latest deploy/nginx
DOCKER_BUILDKIT=1 $DOCKER build --network host -t xquant-prometheus:latest deploy/prometheus
log "starting the stack"
compose up -d --no-build
for _ in $(seq 180); do
  curl -sf localhost:8000/health > /dev/null 2>&1 && break
  sleep 1
done
curl -sf localhost:8000/health > /dev/null || { compose logs >&2; log "FAILED: no /health"; exit 1; }

log "load for ${DURATION}s through the balancer; xquant-b stops halfway"
python3 - "$DURATION" "$(declare -f compose); compose stop -t 20 xquant-b" <<'PY'
import subprocess
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


stopped = {}


def stop_one():
    time.sleep(duration / 2)
    stopped["at"] = time.time() - start
    print(f"compose_smoke: stopping xquant-b at {stopped['at']:.1f}s", file=sys.stderr)
    subprocess.run(["bash", "-c", sys.argv[2]], check=True, capture_output=True)
    stopped["done"] = time.time() - start


threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
threads.append(threading.Thread(target=stop_one))
for t in threads:
    t.start()
for t in threads:
    t.join()

failed = [r for r in results if not r[2]]
after = [r for r in results if r[1] >= stopped["at"]]
print(f"compose_smoke: {len(results)} requests, {len(failed)} failed; "
      f"{sum(r[2] for r in after)}/{len(after)} begun after the stop began succeeded "
      f"(xquant-b took {stopped['done'] - stopped['at']:.1f}s to stop)", file=sys.stderr)
for r in failed[:5]:
    print(f"  failed at {r[0]:.1f}s (began {r[1]:.1f}s): {r[3][:160]}", file=sys.stderr)
# Only requests already running on xquant-b when it was told to stop may fail.
assert all(r[1] < stopped["at"] < r[0] for r in failed), "a request failed that was not in flight"
assert after and all(r[2] for r in after), "requests begun after the stop failed"
PY
log "OK"
