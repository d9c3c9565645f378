"""Startup errors are clear and end with exit status 1. Ports are the server's alone: a second
server on a port in use fails to start with the address named instead of sharing it (SO_REUSEPORT
let the kernel split traffic), and the HTTP and gRPC ports cannot be the same. A KV cache larger
than memory is an error naming the flag."""
import os
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


def test_a_kv_cache_larger_than_memory_is_a_clear_error():
    # 200 TiB is beyond any machine's memory and the 47-bit user address space, so the allocation
    # fails everywhere; the old build aborted with an uncaught std::bad_alloc (exit 134).
    cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--grpc-port", "0",
           "--kv-cache-memory", "200TiB"]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "--kv-cache-memory: cannot allocate" in done.stderr, done.stderr


def run_serve(*flags):
    cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--grpc-port", "0",
           "--kv-cache-memory", "64MiB", *flags]
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=60)


def test_an_unknown_device_is_named():
    done = run_serve("--device", "tpu")
    assert done.returncode == 1, done.stderr
    assert "device: must be cpu, cuda or auto" in done.stderr, done.stderr


def test_cuda_without_a_usable_gpu_is_a_clear_error():
    if os.path.exists("/dev/nvidia0"):
        # A GPU machine: the same flag must start the CUDA runner (tests/gpu covers the rest).
        server = ServerProcess("--device", "cuda")
        try:
            assert any("device: cuda 0" in line for line in server.log), server.log
        finally:
            assert server.stop() == 0
        return
    done = run_serve("--device", "cuda")
    assert done.returncode == 1, done.stderr
    assert ("device: cuda: no usable GPU (" in done.stderr or
            "device: cuda: this binary was built without CUDA" in done.stderr), done.stderr


def test_gpu_memory_utilization_is_checked():
    done = run_serve("--gpu-memory-utilization", "1.5")
    assert done.returncode == 1, done.stderr
    assert "gpu_memory_utilization: must be in [0, 1]" in done.stderr, done.stderr
    done = run_serve("--device", "cpu", "--gpu-memory-utilization", "0.9")
    assert done.returncode == 1, done.stderr
    assert "gpu_memory_utilization: needs device cuda" in done.stderr, done.stderr
    if not os.path.exists("/dev/nvidia0"):
        # auto resolves to the cpu here: the fraction cannot apply, and says so.
        done = run_serve("--gpu-memory-utilization", "0.9")
        assert done.returncode == 1, done.stderr
        assert "needs device cuda; this server runs on the cpu" in done.stderr, done.stderr


def test_target_itl_is_checked():
    for bad in ("-5", "700000"):
        done = run_serve("--target-itl-ms", bad)
        assert done.returncode == 1, done.stderr
        assert "target_itl_ms: must be in [0, 600000] ms" in done.stderr, done.stderr
