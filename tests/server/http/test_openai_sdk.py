"""The official `openai` SDK against the real server: chat and completions, streaming and not,
n > 1, stop, seeds, logprobs, usage, and errors surfacing as the SDK's typed exceptions."""
import threading
import time

import openai
import pytest
import requests

from conftest import Server

CHAT = [{"role": "user", "content": "Name three colors."}]


def test_models_lists_the_served_model(client, model_id):
    models = client.models.list()
    assert [m.id for m in models.data] == [model_id]
    assert model_id.startswith("SmolLM2")


def test_chat_non_streaming(client, model_id):
    r = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=8,
                                       temperature=0)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 8
    assert r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens >= 0


def test_chat_streaming_matches_non_streaming(client, model_id):
    whole = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=10,
                                           temperature=0)
    chunks = list(client.chat.completions.create(
        model=model_id, messages=CHAT, max_tokens=10, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices]
    finishes = [c.choices[0].finish_reason for c in content_chunks]
    assert all(f is None for f in finishes[:-1]), finishes
    assert finishes[-1] == whole.choices[0].finish_reason
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == whole.choices[0].message.content
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_completions_streaming_and_not(client, model_id):
    prompt = "The capital of France is"
    whole = client.completions.create(model=model_id, prompt=prompt, max_tokens=6,
                                      temperature=0)
    assert whole.object == "text_completion"
    assert whole.usage.completion_tokens <= 6
    streamed = list(client.completions.create(model=model_id, prompt=prompt, max_tokens=6,
                                              temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == whole.choices[0].text
    assert streamed[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in streamed[:-1])
    echoed = client.completions.create(model=model_id, prompt=prompt, max_tokens=6,
                                       temperature=0, echo=True)
    assert echoed.choices[0].text == prompt + whole.choices[0].text


def test_n_greater_than_one(client, model_id):
    r = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=6, n=3,
                                       temperature=1.0, seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert 3 <= r.usage.completion_tokens <= 18  # over all copies
    stream = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=5,
                                       n=2, temperature=1.0, seed=3, stream=True)
    texts, finished = {0: "", 1: ""}, {0: 0, 1: 0}
    for chunk in stream:
        for c in chunk.choices:
            texts[c.index] += c.text
            finished[c.index] += c.finish_reason is not None
    assert finished == {0: 1, 1: 1}
    assert texts[0] and texts[1]


def test_seed_reproducibility(client, model_id):
    def sample(seed):
        return client.completions.create(model=model_id, prompt="My favourite animal is",
                                         max_tokens=10, temperature=1.2, seed=seed,
                                         extra_body={"ignore_eos": True}).choices[0].text
    a, b = sample(1234), sample(1234)
    assert a == b
    others = {sample(s) for s in (1, 2, 3)}
    assert len(others | {a}) > 1


def test_stop_string(client, model_id):
    prompt = "Count: one, two, three, four, five,"
    free = client.completions.create(model=model_id, prompt=prompt, max_tokens=12,
                                     temperature=0).choices[0].text
    words = [w for w in free.split() if len(w) > 2]
    assert words, free
    stop = words[min(1, len(words) - 1)]
    r = client.completions.create(model=model_id, prompt=prompt, max_tokens=12, temperature=0,
                                  stop=[stop, "\u00a7never"])
    assert r.choices[0].finish_reason == "stop"
    assert stop not in r.choices[0].text
    assert free.startswith(r.choices[0].text)


def test_max_tokens_and_ignore_eos(client, model_id):
    r = client.completions.create(model=model_id, prompt="Hi", max_tokens=7, temperature=0.8,
                                  extra_body={"ignore_eos": True, "min_tokens": 7})
    assert r.usage.completion_tokens == 7
    assert r.choices[0].finish_reason == "length"


def test_logprobs(client, model_id):
    r = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=4,
                                       temperature=0, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert entry.top_logprobs[0].token == entry.token
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-5
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token
    assert "".join(e.token for e in content).startswith(r.choices[0].message.content[:1])
    c = client.completions.create(model=model_id, prompt="One, two,", max_tokens=3,
                                  temperature=0, logprobs=2)
    lp = c.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 3
    assert all(len(t) <= 2 for t in lp.top_logprobs)
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    # As OpenAI's completions do, each top_logprobs entry also holds the sampled token, even when
    # a hot sample picked one outside the top N (so N + 1 entries at most).
    hot = client.completions.create(model=model_id, prompt="One, two,", max_tokens=24,
                                    temperature=2.0, seed=7, logprobs=1,
                                    extra_body={"ignore_eos": True})
    lp = hot.choices[0].logprobs
    assert len(lp.tokens) == 24
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert 1 <= len(top) <= 2
        assert abs(top[token] - logprob) < 1e-5
    assert any(len(top) == 2 for top in lp.top_logprobs), "temperature 2 never left the top 1"


def test_typed_exceptions(client, model_id):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=-1)
    assert e.value.body["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_id, messages=CHAT, temperature="warm")
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=CHAT, max_tokens=2)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model_id, prompt="word " * 600, max_tokens=2)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model_id, prompt="Hi", max_tokens=100000)
    assert e.value.body["param"] == "max_tokens"
    # SmolLM2 has no fill-in-the-middle tokens: a suffix is refused, never silently dropped.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model_id, prompt="def f(", suffix="\n    return x",
                                  max_tokens=4)
    assert e.value.body["param"] == "suffix"


def test_auth_and_queue_full_errors():
    s = Server("--api-key", "sekret", "--max-waiting-requests", "1", "--max-num-seqs", "1")
    try:
        bad = openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=s.url + "/v1", api_key="sekret", max_retries=0)
        model = good.models.list().data[0].id
        assert requests.get(s.url + "/health", timeout=5).status_code == 200  # no key needed

        # One request runs, one waits, the next finds the queue full. The running one is long
        # enough (tens of seconds) that it cannot finish and let the waiting one in before the
        # third arrives, however slow the machine; closing it below aborts it.
        long = {"model": model, "prompt": "Hi", "max_tokens": 4000,
                "extra_body": {"ignore_eos": True}}
        running = good.completions.create(stream=True, **long)
        next(iter(running))
        waited = []  # what the waiting request got: it must be served once the long one ends
        waiting = threading.Thread(target=lambda: waited.append(good.completions.create(
            model=model, prompt="Hi", max_tokens=5)))
        waiting.start()
        # The third request must find the second already queued; on a loaded machine (ctest -j2
        # beside the C++ suites) the second can take seconds to arrive, so wait for it explicitly
        # rather than for a fixed time (a fixed 10 s once let the third overtake it).
        deadline = time.time() + 60
        while s.metrics().get("xquant_requests_waiting", 0) < 1 and time.time() < deadline:
            time.sleep(0.02)
        assert s.metrics().get("xquant_requests_waiting", 0) == 1
        with pytest.raises(openai.RateLimitError) as e:
            good.completions.create(model=model, prompt="Hi", max_tokens=2)
        assert e.value.response.headers["Retry-After"] == "1"
        assert e.value.body["code"] == "queue_full"
        running.close()
        waiting.join(60)
        assert len(waited) == 1 and waited[0].choices[0].finish_reason is not None
        bad.close()
        good.close()  # idle keep-alive connections would hold shutdown up to keep_alive_timeout_s
    finally:
        assert s.stop() == 0


def test_assistant_prefill_continues_the_final_message(client, model_id):
    messages = [{"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "The capital of France is"}]
    r = client.chat.completions.create(
        model=model_id, messages=messages, max_tokens=4, temperature=0,
        extra_body={"continue_final_message": True, "add_generation_prompt": False})
    # The reply continues the open message instead of starting a new turn.
    assert r.choices[0].message.content.lstrip().startswith("Paris"), r.choices[0].message.content
    fresh = client.chat.completions.create(model=model_id, messages=messages[:1], max_tokens=4,
                                           temperature=0)
    assert r.usage.prompt_tokens > fresh.usage.prompt_tokens
