"""Ports are the server's alone: a second server on a port in use fails to start with the address
named and exit status 1, instead of sharing it (SO_REUSEPORT let the kernel split traffic), and
the HTTP and gRPC ports cannot be the same."""
import socket
import subprocess

from server_process import BINARY, MODEL, ServerProcess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port, grpc_port):
    """Runs a second server to its exit; its status and stderr."""
    cmd = [BINARY, "serve", "--model", MODEL, "--port", str(port), "--grpc-port", str(grpc_port),
           "--threads", "1", "--kv-cache-memory", "64MiB"]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=60)
    return done.returncode, done.stderr


def test_a_second_server_on_the_same_ports_fails_to_start():
    grpc_port = free_port()
    first = ServerProcess(grpc_port=grpc_port)
    try:
        status, err = serve(first.port, 0)
        assert status == 1, err
        assert f"cannot bind 127.0.0.1:{first.port}: address in use" in err, err
        status, err = serve(0, grpc_port)
        assert status == 1, err
        assert f"cannot bind 127.0.0.1:{grpc_port}: address in use" in err, err
    finally:
        assert first.stop() == 0


def test_http_and_grpc_cannot_share_a_port():
    port = free_port()
    status, err = serve(port, port)
    assert status == 1, err
    assert f"127.0.0.1:{port}: address in use" in err, err
