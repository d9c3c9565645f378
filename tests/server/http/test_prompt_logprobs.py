"""Completions as lm-evaluation-harness sends them. Echo with logprobs (log-likelihood
requests): the prompt's tokens come back first with their log-probabilities (the first one null),
then the generated tokens, and the same prefix gets the same numbers in another request. A list of
prompts (batch_size > 1) runs as one batch whose choice i*n+j belongs to prompt i."""
import math

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
