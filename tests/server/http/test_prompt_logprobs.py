"""Completions as lm-evaluation-harness sends them. Echo with logprobs (log-likelihood
requests): the prompt's tokens come back first with their log-probabilities (the first one null),
then the generated tokens, and the same prefix gets the same numbers in another request. A list of
prompts (batch_size > 1) runs as one batch whose choice i*n+j belongs to prompt i."""
import json
import math
import os
import subprocess

import pytest
import requests


def loglikelihood(client, model_id, prompt):
    r = client.completions.create(model=model_id, prompt=prompt, max_tokens=1, temperature=0,
                                  echo=True, logprobs=1)
    return r.choices[0], r.usage


def test_echo_with_logprobs_scores_the_prompt(client, model_id):
    prompt = "The capital of France is Paris. The capital of Germany is"
    choice, usage = loglikelihood(client, model_id, prompt)
    lp = choice.logprobs
    assert choice.text.startswith(prompt)
    # Prompt tokens, then the one generated token.
    assert len(lp.tokens) == usage.prompt_tokens + 1 == len(lp.token_logprobs)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(v <= 0 and math.isfinite(v) for v in lp.token_logprobs[1:])
    assert all(len(top) >= 1 for top in lp.top_logprobs[1:])
    assert "".join(lp.tokens[1:usage.prompt_tokens]) in prompt

    # A longer prompt with the same beginning scores that beginning the same way.
    longer, longer_usage = loglikelihood(client, model_id, prompt + " Berlin.")
    n = usage.prompt_tokens
    assert longer.logprobs.tokens[:n] == lp.tokens[:n]
    for a, b in zip(longer.logprobs.token_logprobs[1:n], lp.token_logprobs[1:n]):
        assert a == pytest.approx(b, abs=2e-3)


def test_echo_with_logprobs_while_streaming_is_refused(server):
    body = {"prompt": "Hello", "max_tokens": 1, "echo": True, "logprobs": 1, "stream": True}
    r = requests.post(server.url + "/v1/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "echo"


def test_a_list_of_prompts_runs_as_one_batch(client, model_id):
    prompts = ["The capital of France is", "One, two, three,", "def add(a, b):"]
    r = client.completions.create(model=model_id, prompt=prompts, max_tokens=4, temperature=0,
                                  n=2, echo=True, logprobs=1)
    assert [c.index for c in r.choices] == list(range(6))
    for i, prompt in enumerate(prompts):
        for c in r.choices[2 * i:2 * i + 2]:
            assert c.text.startswith(prompt), (i, c.text)
            assert c.logprobs.token_logprobs[0] is None
    # Each prompt alone gives the same greedy text and the same scores.
    alone = client.completions.create(model=model_id, prompt=prompts[1], max_tokens=4,
                                      temperature=0, echo=True, logprobs=1)
    assert alone.choices[0].text == r.choices[2].text
    for a, b in zip(alone.choices[0].logprobs.token_logprobs[1:],
                    r.choices[2].logprobs.token_logprobs[1:]):
        assert a == pytest.approx(b, abs=2e-3)
    assert r.usage.prompt_tokens == sum(
        client.completions.create(model=model_id, prompt=p, max_tokens=1).usage.prompt_tokens
        for p in prompts)
    assert r.usage.completion_tokens == 3 * 2 * 4


def test_lists_of_token_ids_and_the_errors_of_a_batch(server, client, model_id):
    r = client.completions.create(model=model_id, prompt=[[1, 2, 3], [4, 5]], max_tokens=2,
                                  temperature=0)
    assert len(r.choices) == 2 and r.usage.prompt_tokens == 5
    for body, param in [({"prompt": ["a", [1, 2]]}, "prompt"),
                        ({"prompt": ["a", 5]}, "prompt[1]"),
                        ({"prompt": ["a", "b"], "stream": True}, "prompt")]:
        resp = requests.post(server.url + "/v1/completions", json={**body, "max_tokens": 1},
                             timeout=30)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == param


def token_ids(server, text):
    r = requests.post(server.url + "/tokenize", json={"prompt": text}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


def test_vllm_prompt_logprobs_on_completions_and_chat(server, client, model_id):
    prompt = "The capital of France is Paris. The capital of Germany is"
    body = {"model": model_id, "prompt": prompt, "max_tokens": 1, "temperature": 0,
            "prompt_logprobs": 2}
    r = requests.post(server.url + "/v1/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    scored = r.json()["choices"][0]["prompt_logprobs"]
    ids = token_ids(server, prompt)
    assert len(scored) == len(ids) == r.json()["usage"]["prompt_tokens"]
    assert scored[0] is None
    for token, entry in zip(ids[1:], scored[1:]):
        # The prompt's own token is always there, with its true rank; then the top 2.
        own = entry[str(token)]
        assert own["logprob"] <= 0 and own["rank"] >= 1
        assert 2 <= len(entry) <= 3
        ranked = sorted(entry.values(), key=lambda v: v["rank"])
        assert ranked[0]["rank"] == 1
        assert [v["logprob"] for v in ranked] == sorted((v["logprob"] for v in ranked),
                                                         reverse=True)
        if own["rank"] > 2:
            assert len(entry) == 3
    # The same numbers as echo + logprobs gives lm-evaluation-harness.
    echo, _ = loglikelihood(client, model_id, prompt)
    for token, entry, lp in zip(ids[1:], scored[1:], echo.logprobs.token_logprobs[1:]):
        assert entry[str(token)]["logprob"] == pytest.approx(lp, abs=1e-5)

    chat = requests.post(server.url + "/v1/chat/completions", timeout=60, json={
        "model": model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2,
        "prompt_logprobs": 0}).json()
    assert len(chat["prompt_logprobs"]) == chat["usage"]["prompt_tokens"]
    assert chat["prompt_logprobs"][0] is None
    assert all(len(entry) == 1 for entry in chat["prompt_logprobs"][1:])

    streamed = requests.post(server.url + "/v1/completions", timeout=30,
                             json={**body, "stream": True})
    assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "prompt_logprobs"


PROSE = (
    "The lighthouse keeper kept a ledger of every ship that passed. In the spring the fishing "
    "boats went out before dawn and came back heavy with cod, their decks shining with scales. "
    "In summer the yachts arrived, white and slow, and their owners waved at the tower as if it "
    "were a friend. Autumn brought the cargo steamers, low in the water, trailing smoke that "
    "hung over the bay for hours. Winter was the hardest season: storms came in from the west, "
    "the lamp had to be trimmed every hour, and the ledger stayed almost empty for weeks. Still "
    "he wrote the date each morning, the wind and the height of the waves, because his father "
    "had done so and because a record that stops is worth less than one that goes on. When the "
    "harbour board replaced the lamp with an electric beacon, they offered him a pension and a "
    "cottage in the town. He took the cottage but kept the ledger, and every morning he walked "
    "to the end of the pier to write down the ships, even those that no longer needed him.")


def test_echo_logprobs_are_the_teacher_forced_eval_numbers(server, client, model_id, tmp_path):
    """What lm-evaluation-harness reads from the server equals what `xquant eval` computes by
    teacher forcing the same text through the engine (fp16 cache)."""
    text = tmp_path / "prose.txt"
    text.write_text(PROSE)
    from server_process import BINARY, MODEL
    out = subprocess.run([BINARY, "eval", "--model", MODEL, "--text", str(text), "--kv-profile",
                          "fp16", "--baseline", "fp16", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    scored = result["tokens_scored"]
    choice, usage = loglikelihood(client, model_id, PROSE)
    prompt_lps = choice.logprobs.token_logprobs[1:usage.prompt_tokens]
    assert 0 < scored < len(prompt_lps)
    # eval scores the predictions of the last `scored` tokens of the text.
    ppl = math.exp(-sum(prompt_lps[-scored:]) / scored)
    assert ppl == pytest.approx(result["ppl_fp16"], rel=1e-3), (ppl, result)
