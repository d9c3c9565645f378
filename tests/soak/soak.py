"""Soak test: the real server under mixed traffic for a fixed time, on loopback only.

Clients mix non-streaming and streaming HTTP chat and completions (n > 1, a shared system
prompt for prefix hits), streams dropped part way, client-side deadlines, and gRPC streams with
deadlines and cancels. At the end it asserts no unexpected errors (429s from the bounded queue
are expected), every KV block free and nothing running, and RSS flat after warm-up (growth
under 10% + 32 MiB), and prints the figures as one JSON line.
    python3 tests/soak/soak.py --duration 1800       # the README's 30-minute run
CI runs a short one (tests/soak/CMakeLists.txt).
"""
import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
from missing_dependency import skip_or_fail  # noqa: E402
from server_process import MODEL, ServerProcess  # noqa: E402

SYSTEM = ("You are a terse assistant for a shipping company. Answer in one sentence, name the "
          "port when you know it, and never invent tracking numbers.")
QUESTIONS = ["Where is Rotterdam?", "What is a container ship?", "Name a port in Spain.",
             "How long is the Suez canal?", "What does TEU mean?", "Name a river port."]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []

    def add(self, kind, error=None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if error:
                self.errors.append(f"{kind}: {error}"[:300])


def http_actions(url, rng):
    chat = {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": rng.choice(QUESTIONS)}],
            "max_tokens": rng.randint(4, 40), "temperature": rng.choice([0, 0.8]),
            "n": rng.choice([1, 1, 2])}
    completion = {"prompt": SYSTEM + " " + rng.choice(QUESTIONS),
                  "max_tokens": rng.randint(4, 40), "stream": True}

    def whole():
        r = requests.post(url + "/v1/chat/completions", json=chat, timeout=120)
        return r.status_code, r.text

    def stream_dropped():
        with requests.post(url + "/v1/completions", json=completion, stream=True,
                           timeout=120) as r:
            if r.status_code != 200:
                return r.status_code, r.text
            for i, _ in enumerate(r.iter_lines()):
                if i >= rng.randint(1, 6):
                    break  # the client hangs up part way
        return 200, ""

    def stream_whole():
        with requests.post(url + "/v1/completions", json=completion, stream=True,
                           timeout=120) as r:
            body = b"".join(r.iter_lines())
            if r.status_code == 200 and b"[DONE]" not in body:
                return 599, "stream ended without [DONE]"
            return r.status_code, body[-200:].decode("utf-8", "replace")

    def deadline():
        try:
            requests.post(url + "/v1/chat/completions", json={**chat, "max_tokens": 200},
                          timeout=rng.uniform(0.05, 0.5))
        except requests.exceptions.Timeout:
            pass  # the client's deadline: the server must abort the request
        return 200, ""

    return [("http_whole", whole), ("http_stream_dropped", stream_dropped),
            ("http_stream", stream_whole), ("http_deadline", deadline)]


def grpc_actions(stub, pb, rng):
    import grpc

    def request():
        chat = pb.ChatMessages(messages=[pb.ChatMessage(role="system", content=SYSTEM),
                                         pb.ChatMessage(role="user",
                                                        content=rng.choice(QUESTIONS))])
        return pb.GenerateRequest(chat=chat, sampling=pb.SamplingParams(
            max_tokens=rng.randint(4, 40), temperature=0.7, n=rng.choice([1, 2])))

    def whole():
        try:
            for r in stub.Generate(request(), timeout=120):
                if r.finished:
                    return 200, ""
            return 599, "stream ended unfinished"
        except grpc.RpcError as e:
            return (429 if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else 500), str(e)

    def cancelled():
        call = stub.Generate(request(), timeout=120)
        try:
            next(call)
        except (grpc.RpcError, StopIteration):
            pass
        call.cancel()
        return 200, ""

    def deadline():
        try:
            for _ in stub.Generate(request(), timeout=rng.uniform(0.05, 0.5)):
                pass
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                grpc.StatusCode.RESOURCE_EXHAUSTED):
                return 500, str(e)
        return 200, ""

    return [("grpc_whole", whole), ("grpc_cancelled", cancelled), ("grpc_deadline", deadline)]


def grpc_client(port):
    import grpc
    from grpc_tools import protoc
    proto = os.path.join(HERE, "..", "..", "proto")
    out = tempfile.mkdtemp(prefix="xq_soak_")
    if protoc.main(["protoc", f"-I{proto}", f"--python_out={out}", f"--grpc_python_out={out}",
                    os.path.join(proto, "xquant", "v1", "inference.proto")]) != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, out)
    from xquant.v1 import inference_pb2, inference_pb2_grpc
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return inference_pb2_grpc.InferenceStub(channel), inference_pb2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--clients", type=int, default=12)
    args = parser.parse_args()
    if not os.path.exists(MODEL):
        skip_or_fail(f"{MODEL} is missing; run `make model`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        grpc_port = s.getsockname()[1]
    server = ServerProcess("--max-num-seqs", "16", "--max-waiting-requests", "24",
                           "--max-model-len", "1024", grpc_port=grpc_port)
    tally = Tally()
    try:
        stub, pb = grpc_client(grpc_port)
        start = time.time()
        rss = [(0.0, rss_mib(server.proc.pid))]

        def client(seed):
            rng = random.Random(seed)
            actions = http_actions(server.url, rng) + grpc_actions(stub, pb, rng)
            while time.time() - start < args.duration:
                kind, act = rng.choice(actions)
                try:
                    status, text = act()
                except Exception as e:  # noqa: BLE001: every failure is counted and shown
                    status, text = 598, f"{type(e).__name__}: {e}"
                if status == 429:
                    tally.add("429")
                elif status != 200:
                    tally.add(kind + "_error", f"{status} {text}")
                else:
                    tally.add(kind)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            rss.append((time.time() - start, rss_mib(server.proc.pid)))
        metrics = server.wait_idle(timeout=30)
        # Warm-up: the first quarter (allocator pools, thread stacks, compiled paths).
        warm = max(r for t, r in rss if t <= args.duration / 4)
        end = rss[-1][1]
        report = {"duration_s": args.duration, "requests": sum(tally.counts.values()),
                  "by_kind": tally.counts, "errors": len(tally.errors),
                  "kv_blocks_used_at_end": metrics["xquant_kv_blocks_used"],
                  "running_at_end": metrics["xquant_requests_running"],
                  "rss_mib_start": round(rss[0][1], 1), "rss_mib_after_warmup": round(warm, 1),
                  "rss_mib_end": round(end, 1)}
        print(json.dumps(report))
        for e in tally.errors[:10]:
            print("error:", e, file=sys.stderr)
        assert not tally.errors, f"{len(tally.errors)} unexpected errors"
        assert metrics["xquant_kv_blocks_used"] == 0 and metrics["xquant_requests_running"] == 0
        assert metrics["xquant_requests_waiting"] == 0
        assert end <= warm * 1.10 + 32, f"RSS grew after warm-up: {warm:.1f} -> {end:.1f} MiB"
        assert server.proc.poll() is None, "the server died"
    finally:
        assert server.stop() == 0


if __name__ == "__main__":
    main()
