"""One real `xquant serve` process on free loopback ports, shared by the HTTP and gRPC suites."""
import os
import re
import subprocess
import threading
import time

import requests

BINARY = os.environ.get("XQ_BINARY", "build/bin/xquant")
MODEL = os.environ.get("XQ_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")


class ServerProcess:
    """Starts the server (HTTP on a free port, gRPC on `grpc_port`, 0 = off) and waits until
    /health says ready; stderr lines are kept in `log`."""

    def __init__(self, *args, grpc_port=0):
        cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--grpc-port", str(grpc_port),
               "--threads", "2", "--kv-cache-memory", "128MiB", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.log = []
        self.port = None
        found = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m and not found.is_set():
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30) or self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server never became healthy:\n" + "".join(self.log))

    def metrics(self):
        """The value of each series by its name with labels, and by its bare name (the first)."""
        text = requests.get(self.url + "/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name_labels, value = line.rsplit(" ", 1)
            values[name_labels] = float(value)
            values.setdefault(name_labels.split("{")[0], float(value))
        return values

    def wait_idle(self, timeout=10):
        """Polls /metrics until nothing runs or waits and no KV block is held; the last values."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            idle = (m["xquant_requests_running"] == 0 and m["xquant_requests_waiting"] == 0
                    and m["xquant_kv_blocks_used"] == 0)
            if idle or time.time() > deadline:
                return m
            time.sleep(0.05)

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
