"""Starts the real `xquant serve` binary with its gRPC port on loopback and generates the Python
client from proto/xquant/v1/inference.proto (grpcio-tools) for the gRPC tests."""
import os
import socket
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from missing_dependency import skip_or_fail  # noqa: E402
from server_process import MODEL, ServerProcess  # noqa: E402

PROTO_DIR = os.environ.get(
    "XQ_PROTO_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "proto"))


def pytest_configure(config):
    if not os.path.exists(MODEL):
        skip_or_fail(f"{MODEL} is missing; run `make model`")
    try:
        import grpc  # noqa: F401
        import grpc_health  # noqa: F401
        import grpc_reflection  # noqa: F401
        from grpc_tools import protoc
    except ImportError as e:
        skip_or_fail(f"{e.name} is missing; run scripts/setup.sh")
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


class Server(ServerProcess):
    """One `xquant serve` process with HTTP (for /metrics) and gRPC; stderr is kept in `log`."""

    def __init__(self, *args):
        import grpc
        from xquant.v1 import inference_pb2_grpc

        self.grpc_port = free_port()
        super().__init__(*args, grpc_port=self.grpc_port)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = inference_pb2_grpc.InferenceStub(self.channel)

    def stop(self, sig=None):
        if getattr(self, "channel", None) is not None:
            self.channel.close()
            self.channel = None
        return super().stop(sig)


@pytest.fixture(scope="session")
def server():
    s = Server("--max-model-len", "512", "--max-num-seqs", "16")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def pb():
    from xquant.v1 import inference_pb2
    return inference_pb2
