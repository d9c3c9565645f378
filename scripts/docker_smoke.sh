#!/usr/bin/env bash
# Builds the xquant image and smoke-tests it, on a machine without Docker Hub: starts dockerd if
# none runs (or uses podman: XQ_CONTAINER_ENGINE=podman), makes the Debian base image locally
# with mmdebstrap from this machine's own apt sources under the tag docker/Dockerfile names,
# builds, runs the image (host network, read-only root, an arbitrary UID), waits for /health and
# the image's own HEALTHCHECK, sends one chat request, stops it with SIGTERM and checks it exited
# 0. For developers and release checks, not CI (the image build compiles everything: minutes).
# --cuda builds the CUDA variant (CUDA=ON) instead. Without a GPU here, it checks what it can:
# the CUDA libraries load and `--device cuda` exits 1 naming why, and the image serves on the
# CPU (the default device, auto, falls back to it).
#   scripts/docker_smoke.sh [--cuda]   # prints "docker_smoke: OK" and the image size at the end
set -euo pipefail
cd "$(dirname "$0")/.."

CUDA=OFF
if [[ ${1:-} == --cuda ]]; then CUDA=ON; fi

ENGINE=${XQ_CONTAINER_ENGINE:-docker}
# A docker client newer than 23 builds with BuildKit only through the buildx plugin; Debian's
# docker.io client (/usr/bin/docker, 20.10) has BuildKit built in. The Dockerfile's ccache
# mount needs BuildKit.
if [[ $ENGINE == docker ]] && ! docker buildx version > /dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then
  ENGINE=/usr/bin/docker
fi
BASE_TAG=$(sed -n 's/^ARG BASE_IMAGE=//p' docker/Dockerfile)  # debian:12-slim
SUITE=${XQ_DEBIAN_SUITE:-bookworm}
IMAGE=${XQ_IMAGE:-$([[ $CUDA == ON ]] && echo xquant-cuda:smoke || echo xquant:smoke)}
PORT=${XQ_SMOKE_PORT:-18080}
NAME=xquant-smoke-$$

log() { echo "docker_smoke: $*" >&2; }

start_engine() {
  if [[ $ENGINE == podman ]]; then
    # This sandbox refuses raising hard limits and crun's defaults: runc, explicit ulimits.
    local conf=${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf
    if [[ ! -f $conf ]]; then
      mkdir -p "$(dirname "$conf")"
      printf '[containers]\ndefault_ulimits = ["nofile=65536:65536"]\n[engine]\nruntime = "runc"\n' \
        > "$conf"
    fi
    return
  fi
  $ENGINE info > /dev/null 2>&1 && return
  log "starting dockerd (log: /tmp/dockerd.log)"
  (dockerd > /tmp/dockerd.log 2>&1 &)
  for _ in $(seq 60); do
    $ENGINE info > /dev/null 2>&1 && return
    sleep 1
  done
  log "dockerd did not start; see /tmp/dockerd.log"
  exit 1
}

make_base() {
  if $ENGINE image inspect "$BASE_TAG" > /dev/null 2>&1; then return; fi
  log "making $BASE_TAG with mmdebstrap ($SUITE, minbase, this machine's apt sources)"
  local sources=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list)
  local existing=()
  for s in "${sources[@]}"; do [[ -f $s ]] && existing+=("$s"); done
  # Where egress goes through a TLS-inspecting proxy the machine trusts extra CAs; the image
  # build fetches from PyPI, so the base trusts them too.
  local hooks=() cas=(/usr/local/share/ca-certificates/*.crt)
  if [[ -f ${cas[0]} ]]; then
    hooks=(--customize-hook="copy-in ${cas[*]} /usr/local/share/ca-certificates/"
           --customize-hook='chroot "$1" update-ca-certificates')
  fi
  mmdebstrap --variant=minbase --include=ca-certificates "${hooks[@]}" "$SUITE" - \
    "${existing[@]}" | $ENGINE import - "$BASE_TAG"
}

wait_for() {  # wait_for SECONDS COMMAND...: retries the command once a second
  local deadline=$((SECONDS + $1))
  shift
  until "$@" > /dev/null 2>&1; do
    if ((SECONDS > deadline)); then return 1; fi
    sleep 1
  done
}

cleanup() { $ENGINE rm -f "$NAME" > /dev/null 2>&1 || true; }
trap cleanup EXIT

start_engine
make_base
log "building $IMAGE"
DOCKER_BUILDKIT=1 $ENGINE build --network host -f docker/Dockerfile --build-arg CUDA="$CUDA" \
  -t "$IMAGE" .

if [[ $CUDA == ON ]]; then
  # No GPU here: the binary must start, load libcudart and cuBLAS, and refuse --device cuda
  # with the reason, as on a GPU node whose driver is missing.
  set +e
  refusal=$($ENGINE run --rm --network host "$IMAGE" serve --device cuda \
    --model /models/SmolLM2-135M-Instruct.Q4_1.gguf --port "$PORT" 2>&1)
  code=$?
  set -e
  if [[ $code != 1 || $refusal != *"device: cuda:"* ]]; then
    log "FAILED: --device cuda without a GPU gave exit $code: $refusal"
    exit 1
  fi
  log "--device cuda without a GPU: exit 1, ${refusal##*\] }"
fi

log "running $IMAGE on 127.0.0.1:$PORT"
$ENGINE run -d --name "$NAME" --network host --read-only --tmpfs /tmp --user 12345:12345 \
  --health-cmd "xquant health --port $PORT" --health-interval 2s \
  "$IMAGE" serve --model /models/SmolLM2-135M-Instruct.Q4_1.gguf --host 127.0.0.1 \
  --port "$PORT" --grpc-port 0 --kv-cache-memory 256MiB > /dev/null
start=$SECONDS
if ! wait_for 120 curl -sf "http://127.0.0.1:$PORT/health"; then
  $ENGINE logs "$NAME" >&2 || true
  log "FAILED: /health never answered"
  exit 1
fi
log "/health ready after $((SECONDS - start)) s"
if [[ $ENGINE != podman ]]; then
  healthy() { [[ $($ENGINE inspect -f '{{.State.Health.Status}}' "$NAME") == healthy ]]; }
  wait_for 60 healthy || { log "FAILED: the HEALTHCHECK never passed"; exit 1; }
  log "HEALTHCHECK: healthy"
fi

reply=$(curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Name a colour."}],"max_tokens":8}')
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["choices"][0]["message"]["content"], r' \
  "$reply" || { log "FAILED: chat reply $reply"; exit 1; }
log "chat: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["choices"][0]["message"]["content"])' "$reply")"

$ENGINE stop -t 30 "$NAME" > /dev/null
code=$($ENGINE inspect -f '{{.State.ExitCode}}' "$NAME")
[[ $code == 0 ]] || { $ENGINE logs "$NAME" >&2; log "FAILED: exit code $code after SIGTERM"; exit 1; }
size=$($ENGINE image inspect -f '{{.Size}}' "$IMAGE")
log "OK: SIGTERM exit 0; image $IMAGE is $((size / 1000000)) MB"
