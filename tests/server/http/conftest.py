"""Starts the real `xquant serve` binary on a free loopback port for the HTTP tests."""
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from missing_dependency import skip_or_fail  # noqa: E402
from server_process import MODEL, ServerProcess  # noqa: E402


def pytest_configure(config):
    if not os.path.exists(MODEL):
        skip_or_fail(f"{MODEL} is missing; run `make model`")


class Server(ServerProcess):
    """One `xquant serve` process (gRPC off); its stderr is collected in `log`."""


# The session's clients pool connections across tests and never retry (max_retries=0, so that a
# server error shows as it is). A connection idle past the server's keep-alive timeout (5 s) can
# be closed just as a client reuses it for a POST ("Server disconnected without sending a
# response": HTTP/1.1's race, which real clients answer by retrying); so these servers keep idle
# connections for the whole session. Keep-alive expiry itself is tested with its own server.
KEEP_IDLE = ("--keep-alive-timeout-s", "3600")


@pytest.fixture(scope="session")
def server():
    s = Server("--max-model-len", "512", "--read-timeout-s", "1", "--max-body-size", "64KiB",
               "--max-num-seqs", "32", *KEEP_IDLE)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    import openai
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    yield c
    c.close()  # before the server stops: an idle connection would hold its shutdown


@pytest.fixture(scope="session")
def model_id(server):
    return requests.get(server.url + "/v1/models", timeout=5).json()["data"][0]["id"]


# The default model's own template offers no tools: tool tests serve it with Qwen 2.5's ChatML
# template (the same special tokens, Hermes-style <tool_call> blocks) from llama.cpp's templates.
TOOL_TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "models", "llamacpp",
                             "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")


@pytest.fixture(scope="session")
def tool_server():
    if not os.path.exists(TOOL_TEMPLATE):
        skip_or_fail(f"{TOOL_TEMPLATE} is missing; run `make model`")
    s = Server("--chat-template", TOOL_TEMPLATE, "--max-model-len", "1024", *KEEP_IDLE)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def tc(tool_server):
    """An openai client of tool_server."""
    import openai
    c = openai.OpenAI(base_url=tool_server.url + "/v1", api_key="unused", max_retries=0)
    yield c
    c.close()
