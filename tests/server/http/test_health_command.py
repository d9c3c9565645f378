"""`xquant health`, the probe container health checks run (no curl needed in the image): exit 0
and the /health body when the server is ready, exit 1 naming the address when nothing answers."""
import socket
import subprocess

from server_process import BINARY


def health(*args):
    return subprocess.run([BINARY, "health", *args], capture_output=True, text=True, timeout=30)


def test_ready_server_is_healthy(server):
    done = health("--port", str(server.port))
    assert done.returncode == 0, done.stderr
    assert '"ok"' in done.stdout


def test_nothing_listening_is_unhealthy():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the probe: nobody listens there
    done = health("--port", str(port), "--timeout-s", "2")
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port}/health" in done.stderr, done.stderr
    bad = health("--port", "70000")
    assert bad.returncode != 0 and "port" in bad.stderr.lower()
