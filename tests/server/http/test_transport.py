"""The HTTP transport against clients that are slow, idle, pipelining, half-closing or old:
the real binary on loopback, raw sockets. Each case failed on the thread-per-connection
transport it replaced (issue 13 item 3)."""
import json
import select
import signal
import socket
import time

import pytest
import requests

from conftest import Server


@pytest.fixture(scope="module")
def srv():
    s = Server("--max-model-len", "512", "--keep-alive-timeout-s", "2")
    yield s
    s.stop()


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_until_closed(sock, limit=10.0):
    sock.settimeout(limit)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def split_responses(data):
    """The responses in `data`, each as (status, headers, body); bodies framed by Content-Length
    or chunked encoding."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                body, rest = body + rest[:size], rest[size + 2:]
                if size == 0:
                    break
        else:
            size = int(headers.get("content-length", 0))
            body, rest = rest[:size], rest[size:]
        out.append((status, headers, body))
        data = rest
    return out


def request_bytes(method, path, body=None, close=False, extra=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}"
    if close:
        head += "Connection: close\r\n"
    if body is None:
        return (head + "\r\n").encode()
    data = json.dumps(body).encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def test_slow_clients_do_not_hold_the_server(srv):
    """Slowloris: 200 connections (more than the 128 handler threads) each dribbling a request
    head one byte at a time; /health and generation still answer at once."""
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 64
    slow = [connect(srv) for _ in range(200)]
    latencies = []
    try:
        for i in range(8):
            for s in slow:
                s.send(head[i:i + 1])
            start = time.time()
            r = requests.get(srv.url + "/health", timeout=5)
            latencies.append(time.time() - start)
            assert r.status_code == 200
            time.sleep(0.25)
        r = requests.post(srv.url + "/v1/completions", json={"prompt": "Hi", "max_tokens": 2},
                          timeout=30)
        assert r.status_code == 200, r.text
    finally:
        for s in slow:
            s.close()
    assert max(latencies) < 1.0, latencies


def test_many_idle_connections_do_not_delay_a_request(srv):
    """500 connections opened at once and left silent; a new client is served immediately (the
    old transport's listen backlog of 5 made one wait 9.5 s behind 300)."""
    idle = [connect(srv) for _ in range(500)]
    try:
        start = time.time()
        r = requests.post(srv.url + "/tokenize", json={"prompt": "Hello"}, timeout=10)
        assert r.status_code == 200 and r.json()["count"] > 0
        assert time.time() - start < 1.0
    finally:
        for s in idle:
            s.close()


def test_idle_keep_alive_connection_is_closed(srv):
    with connect(srv) as s:
        s.sendall(request_bytes("GET", "/health"))
        time.sleep(0.2)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        # Kept alive: a second request on the same connection is served.
        s.sendall(request_bytes("GET", "/health"))
        time.sleep(0.2)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
        # Then closed after --keep-alive-timeout-s 2 of silence.
        start = time.time()
        assert read_until_closed(s, limit=10) == b""
        assert 1.5 < time.time() - start < 5


def test_pipelined_requests_are_answered_in_order(srv):
    with connect(srv) as s:
        s.sendall(request_bytes("GET", "/health")
                  + request_bytes("POST", "/tokenize", {"prompt": "Hello there"})
                  + request_bytes("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2})
                  + request_bytes("GET", "/v1/models", close=True))
        responses = split_responses(read_until_closed(s, limit=30))
    assert [status for status, _, _ in responses] == [200, 200, 200, 200]
    bodies = [json.loads(body) for _, _, body in responses]
    assert bodies[0] == {"status": "ok"}
    assert bodies[1]["count"] > 0
    assert bodies[2]["object"] == "text_completion"
    assert bodies[3]["object"] == "list"
    ids = [headers["x-request-id"] for _, headers, _ in responses]
    assert len(set(ids)) == 4


def test_half_closed_client_gets_its_answer(srv):
    """A client that sends its request and then shuts down its sending side still reads the
    answer (the old transport sent nothing)."""
    for raw, check in [
        (request_bytes("GET", "/health"), lambda b: b == {"status": "ok"}),
        (request_bytes("POST", "/tokenize", {"prompt": "Hello"}), lambda b: b["count"] > 0),
    ]:
        with connect(srv) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            [(status, _, body)] = split_responses(read_until_closed(s))
        assert status == 200 and check(json.loads(body))
    # A generation cannot tell a half-close from a client that left: it is cancelled, and the
    # answer says so (unless it finished first).
    with connect(srv) as s:
        s.sendall(request_bytes("POST", "/v1/completions",
                                {"prompt": "Tell me a story.", "max_tokens": 200,
                                 "ignore_eos": True}))
        s.shutdown(socket.SHUT_WR)
        [(status, _, body)] = split_responses(read_until_closed(s, limit=30))
    assert status == 499, body
    assert "closed" in json.loads(body)["error"]["message"]


def test_chunked_request_body_and_expect_continue(srv):
    data = json.dumps({"prompt": "Hello chunks"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (data[:5], data[5:12], data[12:]))
    with connect(srv) as s:
        s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        [(status, _, body)] = split_responses(read_until_closed(s))
    assert status == 200 and json.loads(body)["count"] > 0
    # Expect: 100-continue gets the interim answer before the body is sent.
    with connect(srv) as s:
        s.sendall(f"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                  "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(data)
        [(status, _, body)] = split_responses(read_until_closed(s))
    assert status == 200 and json.loads(body)["count"] > 0


def test_http10_client(srv):
    with connect(srv) as s:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        [(status, headers, body)] = split_responses(read_until_closed(s))
    assert status == 200 and json.loads(body) == {"status": "ok"}
    # A stream to an HTTP/1.0 client is not chunked: its end is the connection's.
    with connect(srv) as s:
        data = json.dumps({"prompt": "Hi", "max_tokens": 3, "stream": True}).encode()
        s.sendall(b"POST /v1/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        raw = read_until_closed(s, limit=30)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" not in head.lower()
    assert body.rstrip().endswith(b"data: [DONE]")


def test_a_late_reader_gets_the_whole_stream(srv):
    """The stream waits for a client that does not read for a while; nothing is lost."""
    with connect(srv) as s:
        s.sendall(request_bytes("POST", "/v1/completions",
                                {"prompt": "Once upon a time", "max_tokens": 60,
                                 "ignore_eos": True, "stream": True}, close=True))
        time.sleep(3)
        [(status, headers, body)] = split_responses(read_until_closed(s, limit=30))
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    events = [line for line in body.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    tokens = sum(len(json.loads(e[6:])["choices"][0]["text"]) > 0 for e in events[:-1])
    assert tokens >= 50


def test_sigterm_with_idle_and_slow_connections_exits_promptly():
    s = Server("--max-model-len", "512")
    idle = [connect(s) for _ in range(100)]
    for sock in idle[:50]:
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # an unfinished head
    time.sleep(0.5)  # accepted (connections still in the listen backlog are reset on exit)
    start = time.time()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=15) == 0
    assert time.time() - start < 5
    # Every connection was closed by the server, none reset by a dying process.
    readable, _, _ = select.select(idle, [], [], 1)
    assert len(readable) == len(idle)
    for sock in idle:
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pytest.fail("a connection was reset instead of closed")
        sock.close()
    s.stop()
