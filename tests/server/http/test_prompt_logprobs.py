"""Completions with echo and logprobs, as lm-evaluation-harness's log-likelihood requests send
them: the prompt's tokens come back first with their log-probabilities (the first one null), then
the generated tokens; the same prefix gets the same numbers in another request."""
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
