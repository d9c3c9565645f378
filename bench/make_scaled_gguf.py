#!/usr/bin/env python3
"""A GGUF of a bigger model's shape with random weights, quantized by llama.cpp's own quantizer,
so batch-1 speed against llama.cpp can be measured where decode is bound by memory bandwidth
(the 135M default model fits in cache) without downloading a multi-GB file.

The shape comes from a Hugging Face config (configs/synthetic/*.json); the tokenizer, chat
template and every other metadata key from the default model, so the vocabulary is SmolLM2's
(49152 tokens) whatever the config says: the layers are the real model's, the embedding and
output smaller than a 128k-vocabulary model's. Weights are normal(0, 0.02) (norms 1): the text
is nonsense.

  bench/make_scaled_gguf.py configs/synthetic/llama-3.2-1b.json --type Q4_K_M
  MODEL=models/scaled/llama-3.2-1b.Q4_K_M.gguf bench/compare_llamacpp.sh
"""
import argparse
import ctypes
import json
import pathlib
import sys

import gguf
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKENIZER_SOURCE = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
# Keys that describe the shape or the weights' type: written from the config, not copied.
SHAPE_KEYS = ("block_count", "context_length", "embedding_length", "feed_forward_length",
              "attention.head_count", "attention.head_count_kv", "rope.dimension_count",
              "rope.freq_base", "attention.layer_norm_rms_epsilon", "vocab_size")


def copy_metadata(reader, writer):
    for field in reader.fields.values():
        name = field.name
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        if name.startswith("llama.") and name[len("llama."):] in SHAPE_KEYS:
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[1]
            if sub == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            else:
                value = [field.parts[i].tolist()[0] for i in field.data]
            # The source's element type, not one guessed from the Python values (add_array would
            # write token types as INT32 whatever they were, and floats as FLOAT32).
            writer.add_key_value(name, value, vtype, sub_type=sub)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_string(name, bytes(field.parts[field.data[0]]).decode("utf-8"))
        else:
            writer.add_key_value(name, field.parts[field.data[0]].tolist()[0], vtype)


def write_f16(config, vocab, path, seed):
    reader = gguf.GGUFReader(str(TOKENIZER_SOURCE))
    writer = gguf.GGUFWriter(str(path), "llama")
    copy_metadata(reader, writer)
    hidden, ffn = config["hidden_size"], config["intermediate_size"]
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = hidden // heads
    writer.add_block_count(layers)
    writer.add_context_length(config.get("max_position_embeddings", 8192))
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    rng = np.random.default_rng(seed)

    def matrix(rows, cols):  # GGUF lists dims innermost first; numpy's shape is [rows, cols]
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    ones = np.ones(hidden, dtype=np.float32)
    writer.add_tensor("token_embd.weight", matrix(vocab, hidden))
    writer.add_tensor("output_norm.weight", ones)
    if not config.get("tie_word_embeddings", False):
        writer.add_tensor("output.weight", matrix(vocab, hidden))
    for i in range(layers):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", ones)
        writer.add_tensor(p + "attn_q.weight", matrix(heads * head_dim, hidden))
        writer.add_tensor(p + "attn_k.weight", matrix(kv_heads * head_dim, hidden))
        writer.add_tensor(p + "attn_v.weight", matrix(kv_heads * head_dim, hidden))
        writer.add_tensor(p + "attn_output.weight", matrix(hidden, heads * head_dim))
        writer.add_tensor(p + "ffn_norm.weight", ones)
        writer.add_tensor(p + "ffn_gate.weight", matrix(ffn, hidden))
        writer.add_tensor(p + "ffn_up.weight", matrix(ffn, hidden))
        writer.add_tensor(p + "ffn_down.weight", matrix(hidden, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(source, target, ftype_name, threads):
    import llama_cpp

    global _quiet  # llama.cpp keeps the pointer: the callback must outlive this call
    _quiet = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p())  # not one line per tensor
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype_name}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                        ctypes.byref(params))
    if rc != 0:
        sys.exit(f"make_scaled_gguf: llama_model_quantize failed ({rc})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=pathlib.Path, help="Hugging Face config.json of the shape")
    ap.add_argument("--type", default="Q4_K_M", help="llama.cpp file type, e.g. Q4_K_M, Q4_0")
    ap.add_argument("--out-dir", type=pathlib.Path, default=ROOT / "models/scaled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    config = json.loads(args.config.read_text())
    vocab = len(gguf.GGUFReader(str(TOKENIZER_SOURCE)).fields["tokenizer.ggml.tokens"].data)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.config.stem
    target = args.out_dir / f"{stem}.{args.type}.gguf"
    if target.exists():
        print(target)
        return
    f16 = args.out_dir / f"{stem}.F16.gguf"
    if not f16.exists():
        write_f16(config, vocab, f16.with_suffix(".partial"), args.seed)
        f16.with_suffix(".partial").rename(f16)
    if args.type != "F16":
        quantize(f16, target.with_suffix(".partial"), args.type, args.threads)
        target.with_suffix(".partial").rename(target)
    print(target)


if __name__ == "__main__":
    main()
