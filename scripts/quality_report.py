#!/usr/bin/env python3
"""Writes docs/QUALITY.md: every shipped KV profile plus ablations (calibration off, an eta sweep,
sharing thresholds, the recent window) evaluated by `xquant eval` on the default model.

Text: /usr/share/common-licenses/GPL-3, from Debian's base-files package (the GNU GPL v3 text,
which its licence lets anyone copy verbatim); nobody on this project wrote it.

  python3 scripts/quality_report.py [--max-tokens 2048] [--skip-passkey]
"""
import argparse
import json
import pathlib
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
XQUANT = ROOT / "build/bin/xquant"
MODEL = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = pathlib.Path("/usr/share/common-licenses/GPL-3")
PROFILES = ["int8", "kivi-2", "asymkv-1.5", "xquant-1.38", "xquant-1.15", "xquant-1.0"]


def variants(tmp):
    """Ablations of xquant-1.38 (and kivi-2), written as profile files."""
    base = json.loads((ROOT / "configs/kv/xquant-1.38.json").read_text())
    kivi = json.loads((ROOT / "configs/kv/kivi-2.json").read_text())
    out = []

    def add(name, profile, what):
        profile = dict(profile, name=name, description=what)
        path = pathlib.Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(profile))
        out.append((str(path), what))

    add("xquant-1.38-nocal", dict(base, calibration=False), "xquant-1.38 without calibration")
    for eta1 in [0.0833, 0.25, 0.3333]:
        add(f"xquant-1.38-eta1-{eta1}", dict(base, eta={"1": eta1, "2": 0.045}),
            f"xquant-1.38 with eta1 = {eta1}")
    add("xquant-1.38-eta2-0.09", dict(base, eta={"1": 0.16667, "2": 0.09}),
        "xquant-1.38 with eta2 = 0.09")
    add("xquant-1.38-noshare", dict(base, values={"bits": 1}),
        "xquant-1.38 without sharing (K2 V1, 1.5 bits)")
    add("xquant-1.38-share25", dict(base, values={"bits": 1, "share_from_layer": "25%"}),
        "values shared from 25% of the layers up")
    add("xquant-1.38-share75", dict(base, values={"bits": 1, "share_from_layer": "75%"}),
        "values shared from 75% of the layers up")
    add("xquant-1.38-window32", dict(base, recent_window=32), "xquant-1.38 with a 32-token window")
    add("kivi-2-cal", dict(kivi, calibration=True, eta={"1": 0.16667, "2": 0.045}),
        "kivi-2 with calibration")
    return out


def run_eval(args):
    cmd = [str(XQUANT), "eval", "--model", str(MODEL), "--json", "--threads", "2",
           "--kv-cache-memory", "256MiB"] + args
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--skip-passkey", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ablations = variants(tmp)
        t0 = time.time()
        profile_args = []
        for p in PROFILES + [path for path, _ in ablations]:
            profile_args += ["--kv-profile", p]
        text = run_eval(["--text", str(TEXT), "--max-tokens", str(args.max_tokens)] + profile_args)
        passkey = [] if args.skip_passkey else run_eval(
            ["--task", "passkey", "--kv-profile", "fp16"] +
            sum((["--kv-profile", p] for p in PROFILES), []))
        elapsed = time.time() - t0
    what = {pathlib.Path(p).stem: w for p, w in ablations}

    lines = ["# KV cache quality", "",
             "Every profile runs the real forward path of `xquant` on the default model "
             "(SmolLM2-135M-Instruct, Q4_1) with its paged XQuant cache, quantizing as it goes "
             "exactly as serving does, and is compared position by position with the fp16 cache.",
             "",
             f"Produced by `python3 scripts/quality_report.py --max-tokens {args.max_tokens}` "
             f"({elapsed / 60:.1f} min on 2 cores). Text: the first {args.max_tokens} tokens of "
             "`/usr/share/common-licenses/GPL-3` (Debian package `base-files`; the GNU GPL v3, "
             "which may be copied verbatim). Only positions past the first recent window plus "
             "one block are scored, where quantized history is actually read.", "",
             "eq bits: code bits averaged over all K and V layer slots, shared slots counting 0 "
             "(the paper's convention). real bits: everything a compressed block stores per "
             "element (codes, fp16 scales and zero points, alignment). bytes/token: compressed; "
             f"@ctx: including the fp16 recent window at {args.max_tokens} tokens. KL: mean "
             "KL(fp16 ‖ profile) per token in nats.", "",
             "| profile | eq bits | real bits | bytes/token | @ctx | PPL | ΔPPL | KL | top-1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in text:
        name = r["profile"]
        label = f"{name} ({what[name]})" if name in what else f"**{name}**"
        lines.append(
            f"| {label} | {r['eq_bits']:.3f} | {r['real_bits']:.3f} | {r['bytes_per_token']:.0f} | "
            f"{r['bytes_per_token_at_context']:.0f} | {r['ppl']:.3f} | "
            f"{r['ppl'] - r['ppl_fp16']:+.3f} | {r['kl_vs_fp16']:.4f} | {r['top1_agreement']:.3f} |")
    lines += ["", f"fp16 perplexity on the same positions: {text[0]['ppl_fp16']:.3f} "
              f"({text[0]['tokens_scored']} tokens scored).", ""]
    if passkey:
        contexts = sorted({r["context_tokens"] for r in passkey})
        lines += ["## Passkey retrieval", "",
                  "A 5-digit key hidden at depths 10/30/50/70/90% of filler text; the question is "
                  "processed after the whole context, so it reads the context after it has left "
                  "the recent window and been quantized. Greedy answer, exact digits.", "",
                  "| profile | " + " | ".join(f"{c} tokens" for c in contexts) + " |",
                  "| --- |" + " --- |" * len(contexts)]
        for name in dict.fromkeys(r["profile"] for r in passkey):
            cells = []
            for c in contexts:
                r = next(x for x in passkey if x["profile"] == name and x["context_tokens"] == c)
                cells.append(f"{r['correct']}/{r['total']}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    (ROOT / "docs/QUALITY.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
