"""Starts the real `xquant serve` binary on a free loopback port for the HTTP tests."""
import os
import re
import subprocess
import threading
import time

import pytest
import requests

BINARY = os.environ.get("XQ_BINARY", "build/bin/xquant")
MODEL = os.environ.get("XQ_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")


def pytest_configure(config):
    if not os.path.exists(MODEL):
        # ctest maps this exit code to "skipped" (SKIP_RETURN_CODE), so the skip stays visible.
        print(f"SKIP: {MODEL} is missing; run `make model`", flush=True)
        pytest.exit(f"{MODEL} is missing; run `make model`", returncode=77)


class Server:
    """One `xquant serve` process; its stderr is collected in `log`."""

    def __init__(self, *args):
        cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--grpc-port", "0",
               "--threads", "2", "--kv-cache-memory", "128MiB", *args]
        # Other test suites share the cores: spinning OpenMP workers would wait for descheduled
        # peers at every barrier, sleeping ones do not (README, "Tuning").
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=env)
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
        deadline = time.time() + 60
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
        """The unlabelled value of each xquant_* series (first label set)."""
        text = requests.get(self.url + "/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name_labels, value = line.rsplit(" ", 1)
            values[name_labels] = float(value)
            values.setdefault(name_labels.split("{")[0], float(value))
        return values

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


@pytest.fixture(scope="session")
def server():
    s = Server("--max-model-len", "512", "--read-timeout-s", "1", "--max-body-size", "64KiB",
               "--max-num-seqs", "32")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    import openai
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="session")
def model_id(server):
    return requests.get(server.url + "/v1/models", timeout=5).json()["data"][0]["id"]
