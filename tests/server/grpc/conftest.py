"""Starts the real `xquant serve` binary with its gRPC port on loopback and generates the Python
client from proto/xquant/v1/inference.proto (grpcio-tools) for the gRPC tests."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

BINARY = os.environ.get("XQ_BINARY", "build/bin/xquant")
MODEL = os.environ.get("XQ_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")
PROTO_DIR = os.environ.get(
    "XQ_PROTO_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "proto"))


def _skip(why):
    # ctest maps this exit code to "skipped" (SKIP_RETURN_CODE), so the skip stays visible.
    print(f"SKIP: {why}", flush=True)
    pytest.exit(why, returncode=77)


def pytest_configure(config):
    if not os.path.exists(MODEL):
        _skip(f"{MODEL} is missing; run `make model`")
    try:
        import grpc  # noqa: F401
        import grpc_health  # noqa: F401
        import grpc_reflection  # noqa: F401
        from grpc_tools import protoc
    except ImportError as e:
        _skip(f"{e.name} is missing; run scripts/setup.sh")
    out = tempfile.mkdtemp(prefix="xq_grpc_py_")
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                      f"--grpc_python_out={out}",
                      os.path.join(PROTO_DIR, "xquant", "v1", "inference.proto")])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {PROTO_DIR}/xquant/v1/inference.proto")
    sys.path.insert(0, out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `xquant serve` process with HTTP (for /metrics) and gRPC; stderr is kept in `log`."""

    def __init__(self, *args):
        import grpc
        import requests
        from xquant.v1 import inference_pb2_grpc

        self.grpc_port = free_port()
        cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--grpc-port",
               str(self.grpc_port), "--threads", "2", "--kv-cache-memory", "128MiB", *args]
        # On a loaded machine (parallel builds, other test suites) spinning OpenMP workers wait
        # for descheduled peers at every barrier and decode gets ~50x slower; sleeping ones don't.
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=env)
        self.log = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                if "ready: model" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(90) or self.proc.poll() is not None or self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = requests
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = inference_pb2_grpc.InferenceStub(self.channel)

    def metrics(self):
        """The value of each series by its name with labels, and by its bare name (the first)."""
        text = self.requests.get(self.url + "/metrics", timeout=5).text
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
        if getattr(self, "channel", None) is not None:
            self.channel.close()
            self.channel = None
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


@pytest.fixture(scope="session")
def server():
    s = Server("--max-model-len", "512", "--max-num-seqs", "16")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def pb():
    from xquant.v1 import inference_pb2
    return inference_pb2
