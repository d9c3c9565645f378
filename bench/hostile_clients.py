"""Latency of normal requests while hostile clients hold connections open, against the same
server with no such clients, back to back in one run (the machine is shared and noisy):

  baseline   nothing else connected
  idle       N connections opened and left silent
  slowloris  N connections each sending its request head one byte every second

For each phase: p50 / max of GET /health and of a 2-token completion (10 of each). Prints one
JSON object. The server is the real binary on loopback with its defaults (128 handler threads).

    python3 bench/hostile_clients.py --connections 10000
"""
import argparse
import json
import os
import resource
import socket
import statistics
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
from server_process import ServerProcess  # noqa: E402


def timed(fn, n=10):
    out = []
    for _ in range(n):
        start = time.time()
        r = fn()
        assert r.status_code == 200, r.text
        out.append(time.time() - start)
    return {"p50_ms": round(statistics.median(out) * 1000, 1), "max_ms": round(max(out) * 1000, 1)}


def measure(server):
    health = timed(lambda: requests.get(server.url + "/health", timeout=30))
    completion = timed(lambda: requests.post(server.url + "/v1/completions", timeout=60,
                                             json={"prompt": "Hello", "max_tokens": 2}))
    return {"health": health, "completion": completion}


def open_connections(port, n):
    conns = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        conns.append(s)
    return conns


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = min(args.connections, hard - 200)

    server = ServerProcess("--max-model-len", "512")
    result = {"connections": n, "date": time.strftime("%Y-%m-%d")}
    try:
        measure(server)  # warm-up
        result["baseline"] = measure(server)

        conns = open_connections(server.port, n)
        time.sleep(1)
        result["idle"] = measure(server)
        for c in conns:
            c.close()
        time.sleep(1)

        conns = open_connections(server.port, n)
        head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
        stop = threading.Event()

        def dribble():
            i = 0
            while not stop.is_set() and i < len(head):
                for c in conns:
                    try:
                        c.send(head[i:i + 1])
                    except OSError:
                        pass
                i += 1
                stop.wait(1.0)

        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        time.sleep(2)
        result["slowloris"] = measure(server)
        stop.set()
        t.join()
        for c in conns:
            c.close()
        result["server_alive"] = requests.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        server.stop()
    for phase in ("idle", "slowloris"):
        for what in ("health", "completion"):
            result[phase][what]["p50_vs_baseline"] = round(
                result[phase][what]["p50_ms"] / max(result["baseline"][what]["p50_ms"], 0.1), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
