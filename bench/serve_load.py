"""Streaming load against an OpenAI-compatible server (xquant serve, llama-server): CONCURRENCY
clients each send /v1/completions requests back to back (distinct prompts of about
PROMPT_TOKENS tokens, exactly MAX_TOKENS out: ignore_eos, greedy) until REQUESTS have finished.
Prints one JSON line: output tok/s over the whole run, time to first token and inter-token
latency percentiles (ms), errors. The client is the official openai SDK (async).

    python3 bench/serve_load.py --url http://127.0.0.1:8000/v1 --concurrency 16 --requests 32
"""
import argparse
import asyncio
import json
import random
import statistics
import sys
import time

import openai

WORDS = ("the server keeps every request moving while memory stays tight and the cache grows "
         "with each token that a model writes for a user who waits on the other side of a slow "
         "network link between two distant data centres running many small machines").split()


def prompt(i, words):
    rng = random.Random(i)
    return f"Request {i}. " + " ".join(rng.choice(WORDS) for _ in range(words))


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


async def one_request(client, model, i, args, out):
    start = time.perf_counter()
    times = []
    finish = None
    stream = await client.completions.create(
        model=model, prompt=prompt(i, args.prompt_words), max_tokens=args.max_tokens,
        temperature=0, stream=True, extra_body={"ignore_eos": True})
    async for chunk in stream:
        if not chunk.choices:
            continue
        if chunk.choices[0].text:
            times.append(time.perf_counter())
        finish = chunk.choices[0].finish_reason or finish
    if not times:
        raise RuntimeError(f"request {i}: no tokens")
    out["ttft"].append((times[0] - start) * 1000)
    out["itl"] += [(b - a) * 1000 for a, b in zip(times, times[1:])]
    out["tokens"] += args.max_tokens if finish == "length" else len(times)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--requests", type=int, default=0, help="default: 2 x concurrency")
    p.add_argument("--prompt-words", type=int, default=250, help="about 330 tokens")
    p.add_argument("--max-tokens", type=int, default=64)
    args = p.parse_args()
    total = args.requests or 2 * args.concurrency
    client = openai.AsyncOpenAI(base_url=args.url, api_key="none", timeout=600, max_retries=0)
    model = args.model or (await client.models.list()).data[0].id
    out = {"ttft": [], "itl": [], "tokens": 0, "errors": 0}
    next_id = iter(range(total))

    async def worker():
        for i in next_id:
            try:
                await one_request(client, model, i, args, out)
            except Exception as e:  # counted and named, not fatal: the run goes on
                out["errors"] += 1
                print(f"serve_load: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    duration = time.perf_counter() - start
    print(json.dumps({
        "concurrency": args.concurrency, "requests": total, "errors": out["errors"],
        "output_tokens": out["tokens"], "duration_s": round(duration, 2),
        "output_tps": round(out["tokens"] / duration, 1),
        "ttft_ms_p50": percentile(out["ttft"], 50), "ttft_ms_p99": percentile(out["ttft"], 99),
        "itl_ms_p50": percentile(out["itl"], 50), "itl_ms_p99": percentile(out["itl"], 99),
        "itl_ms_mean": statistics.fmean(out["itl"]) if out["itl"] else None}))


if __name__ == "__main__":
    asyncio.run(main())
