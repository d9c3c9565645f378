"""A grpcio client generated from proto/xquant/v1/inference.proto against the real binary:
streaming generation (text, chat, token ids), n > 1, logprobs, usage, cancellation, deadlines,
status codes, the health service, reflection, the API key and graceful shutdown."""
import signal
import threading
import time

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import Server

PROMPT = "The capital of France is"
CHAT = [("system", "You are terse."), ("user", "Name three colors.")]
ABORTED = 'xquant_requests_finished_total{finish_reason="abort"}'


def aborted_count(server, expected, timeout=5):
    """The aborted-requests counter once it reaches `expected` (the handler records it after the
    engine went idle, so it may lag), or its value at the timeout."""
    deadline = time.time() + timeout
    while True:
        value = server.metrics().get(ABORTED, 0)
        if value >= expected or time.time() > deadline:
            return value
        time.sleep(0.02)


def chat(pb, messages=CHAT):
    return pb.ChatMessages(messages=[pb.ChatMessage(role=r, content=c) for r, c in messages])


def collect(responses):
    """Per choice index: text, token ids, finish reason; plus every response, in order."""
    choices, all_responses = {}, []
    for r in responses:
        all_responses.append(r)
        for c in r.choices:
            entry = choices.setdefault(c.index, {"text": "", "ids": [], "finish": 0,
                                                 "logprobs": []})
            entry["text"] += c.text
            entry["ids"] += list(c.token_ids)
            entry["logprobs"] += list(c.logprobs)
            if c.finish_reason:
                entry["finish"] = c.finish_reason
    return choices, all_responses


def http_post(server, path, body):
    r = requests.post(server.url + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def rpc_error(fn):
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def test_health_check_serving(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for service in ("", "xquant.v1.Inference"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_services(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"xquant.v1.Inference", "grpc.health.v1.Health"} <= names


def test_model_info_agrees_with_http(server, pb):
    info = server.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    models = requests.get(server.url + "/v1/models", timeout=5).json()
    assert info.id == models["data"][0]["id"]
    assert info.max_model_len == 512
    assert info.vocab_size > 1000
    assert info.kv_profile == "fp16"
    assert info.kv_blocks_total > 0


def test_tokenize_agrees_with_http(server, pb):
    reply = server.stub.Tokenize(pb.TokenizeRequest(text="Hello world"), timeout=5)
    http = http_post(server, "/tokenize", {"prompt": "Hello world"})
    assert list(reply.token_ids) == http["tokens"]
    plain = server.stub.Tokenize(pb.TokenizeRequest(text="Hello world", add_special_tokens=False,
                                                    return_token_strings=True), timeout=5)
    assert b"".join(plain.token_strings).decode() == "Hello world"
    chat_reply = server.stub.Tokenize(pb.TokenizeRequest(chat=chat(pb)), timeout=5)
    messages = [{"role": r, "content": c} for r, c in CHAT]
    assert list(chat_reply.token_ids) == http_post(server, "/tokenize",
                                                   {"messages": messages})["tokens"]


def test_generate_text_streams_what_http_returns(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        temperature=0, max_tokens=6, ignore_eos=True))
    choices, responses = collect(server.stub.Generate(request, timeout=60))
    assert list(choices) == [0]
    c = choices[0]
    assert len(c["ids"]) == 6
    assert c["finish"] == pb.FINISH_REASON_LENGTH
    assert len(responses) >= 2  # streamed, not one final blob
    assert all(not r.finished for r in responses[:-1]) and responses[-1].finished
    assert responses[-1].usage.completion_tokens == 6
    assert responses[-1].usage.prompt_tokens == len(
        server.stub.Tokenize(pb.TokenizeRequest(text=PROMPT)).token_ids)
    assert len({r.id for r in responses}) == 1
    http = http_post(server, "/v1/completions", {"prompt": PROMPT, "temperature": 0,
                                                 "max_tokens": 6, "ignore_eos": True})
    assert c["text"] == http["choices"][0]["text"]


def test_generate_chat_streams_what_http_returns(server, pb):
    request = pb.GenerateRequest(chat=chat(pb), sampling=pb.SamplingParams(
        temperature=0, max_tokens=6))
    choices, responses = collect(server.stub.Generate(request, timeout=60))
    messages = [{"role": r, "content": c} for r, c in CHAT]
    http = http_post(server, "/v1/chat/completions", {"messages": messages, "temperature": 0,
                                                      "max_tokens": 6})
    assert choices[0]["text"] == http["choices"][0]["message"]["content"]
    assert responses[-1].usage.prompt_tokens == http["usage"]["prompt_tokens"]
    assert responses[-1].usage.completion_tokens == http["usage"]["completion_tokens"]


def test_generate_token_ids_equals_text_and_reuses_the_prefix_cache(server, pb):
    text = "Once upon a time, " + "in a land far away, " * 12
    ids = list(server.stub.Tokenize(pb.TokenizeRequest(text=text)).token_ids)
    assert len(ids) > 64  # longer than a KV block, so the second request hits the cache
    params = pb.SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    by_text, _ = collect(server.stub.Generate(pb.GenerateRequest(text=text, sampling=params),
                                              timeout=60))
    by_ids, responses = collect(server.stub.Generate(
        pb.GenerateRequest(token_ids=pb.TokenIds(ids=ids), sampling=params), timeout=60))
    assert by_ids[0]["ids"] == by_text[0]["ids"]
    assert by_ids[0]["text"] == by_text[0]["text"]
    usage = responses[-1].usage
    assert usage.prompt_tokens == len(ids)
    assert 32 <= usage.cached_tokens < len(ids)


def test_n_choices_with_a_seed_are_reproducible(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        n=3, seed=7, temperature=1.0, max_tokens=5, ignore_eos=True))
    first, responses = collect(server.stub.Generate(request, timeout=60))
    assert sorted(first) == [0, 1, 2]
    for c in first.values():
        assert len(c["ids"]) == 5 and c["finish"] == pb.FINISH_REASON_LENGTH
    assert responses[-1].usage.completion_tokens == 15
    again, _ = collect(server.stub.Generate(request, timeout=60))
    assert [again[i]["ids"] for i in range(3)] == [first[i]["ids"] for i in range(3)]


def test_logprobs_describe_each_token(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        temperature=0, max_tokens=4, ignore_eos=True, logprobs=True, top_logprobs=2))
    choices, _ = collect(server.stub.Generate(request, timeout=60))
    c = choices[0]
    assert [lp.token_id for lp in c["logprobs"]] == c["ids"]
    for lp in c["logprobs"]:
        assert lp.logprob <= 0
        assert len(lp.top_logprobs) == 2
        assert lp.top_logprobs[0].token_id == lp.token_id  # greedy takes the likeliest
        assert lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob
    assert b"".join(lp.token for lp in c["logprobs"]).decode() == c["text"]


def test_stop_string_ends_the_choice(server, pb):
    def generate(**stop):
        params = pb.SamplingParams(temperature=0, max_tokens=6, ignore_eos=True, **stop)
        choices, _ = collect(server.stub.Generate(pb.GenerateRequest(text=PROMPT, sampling=params),
                                                  timeout=60))
        return choices[0]

    free = generate()
    stop = free["text"].split()[1]  # the second word
    stopped = generate(stop=[stop])
    assert stopped["finish"] == pb.FINISH_REASON_STOP
    assert stop not in stopped["text"]
    assert free["text"].startswith(stopped["text"])


def test_cancel_mid_stream_frees_the_request(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        max_tokens=500, ignore_eos=True))
    before = server.wait_idle()
    call = server.stub.Generate(request, timeout=120)
    for _ in range(2):
        assert next(call).choices
    assert server.metrics()["xquant_requests_running"] == 1
    call.cancel()
    assert call.code() == grpc.StatusCode.CANCELLED
    m = server.wait_idle()
    assert m["xquant_requests_running"] == 0
    assert m["xquant_kv_blocks_used"] == 0
    # Stopped early, not run to max_tokens.
    assert m["xquant_generation_tokens_total"] - before["xquant_generation_tokens_total"] < 500
    assert aborted_count(server, before.get(ABORTED, 0) + 1) == before.get(ABORTED, 0) + 1
    # Still serving.
    assert server.stub.Tokenize(pb.TokenizeRequest(text="ok"), timeout=5).token_ids


def test_deadline_exceeded_aborts_the_request(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        max_tokens=500, ignore_eos=True))
    before = server.wait_idle()
    start = time.time()
    error = rpc_error(lambda: list(server.stub.Generate(request, timeout=0.25)))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.time() - start < 10
    m = server.wait_idle()
    assert m["xquant_requests_running"] == 0
    assert m["xquant_kv_blocks_used"] == 0
    assert m["xquant_generation_tokens_total"] - before["xquant_generation_tokens_total"] < 500
    assert aborted_count(server, before.get(ABORTED, 0) + 1) == before.get(ABORTED, 0) + 1


def test_many_concurrent_streams_some_cancelled(server, pb):
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        max_tokens=8, ignore_eos=True))
    long_request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        max_tokens=300, ignore_eos=True))
    results = [None] * 48

    def run(i):
        call = server.stub.Generate(long_request if i % 3 == 0 else request, timeout=60)
        if i % 3 == 0:
            next(call)
            call.cancel()
            results[i] = call.code()
            return
        choices, _ = collect(call)
        results[i] = len(choices[0]["ids"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, r in enumerate(results):
        assert r == (grpc.StatusCode.CANCELLED if i % 3 == 0 else 8), (i, r)
    m = server.wait_idle()
    assert m["xquant_requests_running"] == 0 and m["xquant_requests_waiting"] == 0
    assert m["xquant_kv_blocks_used"] == 0


@pytest.mark.parametrize("build, field", [
    (lambda pb: pb.GenerateRequest(text="x", sampling=pb.SamplingParams(top_p=1.5)),
     "sampling.top_p"),
    (lambda pb: pb.GenerateRequest(text="x", sampling=pb.SamplingParams(temperature=-1)),
     "sampling.temperature"),
    (lambda pb: pb.GenerateRequest(text="x", sampling=pb.SamplingParams(n=0)), "sampling.n"),
    (lambda pb: pb.GenerateRequest(text="x", sampling=pb.SamplingParams(max_tokens=600)),
     "sampling.max_tokens"),
    (lambda pb: pb.GenerateRequest(sampling=pb.SamplingParams()), "prompt"),
    (lambda pb: pb.GenerateRequest(token_ids=pb.TokenIds(ids=[1, 10**8])), "token_ids.ids[1]"),
    (lambda pb: pb.GenerateRequest(text="hello " * 600), "text"),
    (lambda pb: pb.GenerateRequest(chat=pb.ChatMessages()), "chat.messages"),
])
def test_invalid_argument_names_the_field(server, pb, build, field):
    error = rpc_error(lambda: list(server.stub.Generate(build(pb), timeout=30)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(field + ":"), error.details()


def test_unknown_model_is_not_found(server, pb):
    request = pb.GenerateRequest(model="no-such-model", text="x")
    error = rpc_error(lambda: list(server.stub.Generate(request, timeout=30)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_api_key_and_full_queue():
    s = Server("--api-key", "sekret", "--max-waiting-requests", "1", "--max-num-seqs", "1")
    try:
        from xquant.v1 import inference_pb2 as pb
        key = [("authorization", "Bearer sekret")]
        for metadata in ([], [("authorization", "Bearer wrong")], [("authorization", "sekret")]):
            error = rpc_error(lambda: s.stub.GetModelInfo(pb.GetModelInfoRequest(),
                                                          metadata=metadata, timeout=5))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        assert s.stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=key, timeout=5).id
        # Probes carry no key: health stays open.
        health = health_pb2_grpc.HealthStub(s.channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING

        # One running, one waiting: the rest are turned away.
        request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
            max_tokens=400, ignore_eos=True))
        calls = [s.stub.Generate(request, metadata=key, timeout=60) for _ in range(4)]
        deadline = time.time() + 20
        while time.time() < deadline and not any(c.done() for c in calls):
            time.sleep(0.02)
        for c in calls:
            c.cancel()
        codes = [c.code() for c in calls]
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
        rejected = calls[codes.index(grpc.StatusCode.RESOURCE_EXHAUSTED)]
        assert "retry after" in rejected.details()
        m = s.wait_idle()
        assert m["xquant_requests_running"] == 0 and m["xquant_kv_blocks_used"] == 0
    finally:
        s.stop()


def test_sigterm_drains_the_open_stream_then_exits_0():
    s = Server("--shutdown-timeout-s", "20")
    from xquant.v1 import inference_pb2 as pb
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.SamplingParams(
        temperature=0, max_tokens=400, ignore_eos=True))
    call = s.stub.Generate(request, timeout=60)
    before = [next(call)]
    s.proc.send_signal(signal.SIGTERM)
    # Draining: the health service says so while the open stream goes on.
    health = health_pb2_grpc.HealthStub(s.channel)
    deadline = time.time() + 5
    status = None
    while time.time() < deadline:
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        if status == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        before.append(next(call))
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    error = rpc_error(lambda: list(s.stub.Generate(request, timeout=10)))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    after = list(call)
    assert after, "the stream ended before the signal took effect"
    choices, responses = collect(before + after)
    assert responses[-1].finished
    assert len(choices[0]["ids"]) == 400
    assert choices[0]["finish"] == pb.FINISH_REASON_LENGTH
    assert s.proc.wait(30) == 0
    s.stop()


@pytest.mark.parametrize("method,streaming", [("Generate", True), ("Tokenize", False),
                                              ("GetModelInfo", False)])
def test_malformed_protobuf_is_invalid_argument(server, method, streaming):
    """Bytes that are not the request message: INVALID_ARGUMENT naming the message type (was
    INTERNAL with empty details), and the server keeps serving."""
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    path = f"/xquant.v1.Inference/{method}"
    call = (channel.unary_stream if streaming else channel.unary_unary)(path)
    # Field 1 as a varint, then a length-delimited field whose length runs past the end.
    garbage = b"\x08\x96\x01\x12\xff\xff\xff\x0fshort"
    error = rpc_error(lambda: list(call(garbage, timeout=10)) if streaming
                      else call(garbage, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert "xquant.v1." in error.details() and "protobuf" in error.details(), error.details()
    channel.close()
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
