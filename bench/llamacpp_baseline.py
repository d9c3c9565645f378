#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) baseline: prefill and batch-1 decode tokens/s on one model.

Prints one JSON line with the same fields as `xquant bench`, so a script can form the ratio:
{"engine":"llama.cpp","threads":N,"prefill_tokens":512,"prefill_tps":..,"decode_tokens":128,
 "decode_tps":..}
"""

import argparse
import json
import os
import sys
import time

import llama_cpp
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
PROMPT_SOURCE = "/usr/share/common-licenses/GPL-3"  # any Debian machine has it
DECODE_PROMPT = "The capital of France is"


def prompt_tokens(llm, n):
    text = open(PROMPT_SOURCE, encoding="utf-8").read()
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)[:n]
    if len(ids) < n:
        sys.exit(f"{PROMPT_SOURCE} gave only {len(ids)} tokens, need {n}")
    return ids


def last_logits(llm):
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def time_prefill(llm, ids):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)  # n_batch == n_ubatch == len(ids): one forward pass
    return time.perf_counter() - t0


def time_decode(llm, prompt_ids, n):
    llm.reset()
    llm.eval(prompt_ids)
    t0 = time.perf_counter()
    for _ in range(n):
        # Greedy over the full logits (no EOS stop), so every step is one real batch-1 decode.
        llm.eval([int(np.argmax(last_logits(llm)))])
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("threads", nargs="?", type=int, default=2)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--prefill-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.model):
        sys.exit(f"model not found: {args.model} (run `make model`)")

    n_pre, n_dec = args.prefill_tokens, args.decode_tokens
    llm = llama_cpp.Llama(args.model, n_ctx=max(n_pre, n_dec + 64) + 64, n_batch=n_pre,
                          n_ubatch=n_pre, n_threads=args.threads, n_threads_batch=args.threads,
                          logits_all=False, verbose=False)
    ids = prompt_tokens(llm, n_pre)
    dec_prompt = llm.tokenize(DECODE_PROMPT.encode("utf-8"), add_bos=True, special=False)

    time_prefill(llm, ids)  # warm-up: page in weights, size buffers
    time_decode(llm, dec_prompt, 8)
    prefill_s = min(time_prefill(llm, ids) for _ in range(args.repeats))
    decode_s = min(time_decode(llm, dec_prompt, n_dec) for _ in range(args.repeats))

    print(json.dumps({
        "engine": "llama.cpp",
        "threads": args.threads,
        "prefill_tokens": n_pre,
        "prefill_tps": round(n_pre / prefill_s, 2),
        "decode_tokens": n_dec,
        "decode_tps": round(n_dec / decode_s, 2),
    }))


if __name__ == "__main__":
    main()
