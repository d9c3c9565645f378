"""Writes the seed corpora in corpus/<target>/ (committed; rerun after changing this file).
Small valid inputs of each kind, so the fuzzers start from real structure."""
import json
import os
import re
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def openai_requests():
    chat = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Hi"}],
            "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"], "seed": 1,
            "logprobs": True, "top_logprobs": 2, "n": 2, "stream": True,
            "stream_options": {"include_usage": True}, "logit_bias": {"42": -100}}
    tools = {"messages": [{"role": "user", "content": "Weather?"},
                          {"role": "assistant", "tool_calls": [
                              {"id": "c1", "type": "function",
                               "function": {"name": "w", "arguments": "{\"city\": \"P\"}"}}]},
                          {"role": "tool", "tool_call_id": "c1", "content": "21"}],
             "tools": [{"type": "function", "function": {
                 "name": "w", "parameters": {"type": "object",
                                             "properties": {"city": {"type": "string"}}}}}],
             "tool_choice": "required", "parallel_tool_calls": False}
    schema = {"messages": [{"role": "user", "content": [{"type": "text", "text": "JSON"}]}],
              "response_format": {"type": "json_schema", "json_schema": {
                  "name": "x", "strict": True, "schema": {
                      "type": "object", "properties": {"a": {"type": "integer", "minimum": 0},
                                                       "b": {"enum": ["x", "y"]}},
                      "required": ["a"], "additionalProperties": False}}}}
    completion = {"prompt": ["Hello", [1, 2, 3]], "max_tokens": 4, "echo": True, "logprobs": 2,
                  "suffix": "end", "best_of": 1, "prompt_logprobs": 1,
                  "guided_regex": "[a-z]+", "min_tokens": 1, "ignore_eos": True}
    grammar = {"prompt": "x", "guided_grammar": "root ::= \"a\" | \"b\"",
               "guided_choice": ["yes", "no"]}
    responses = {"model": "m", "input": [{"role": "user", "content": "Hi"},
                                         {"type": "function_call_output", "call_id": "c",
                                          "output": "1"}],
                 "instructions": "Be brief.", "max_output_tokens": 16, "stream": True,
                 "text": {"format": {"type": "json_object"}}}
    for i, (kind, body) in enumerate([(0, chat), (0, tools), (0, schema), (1, completion),
                                      (1, grammar), (2, responses), (2, {"input": "Hi"})]):
        out("fuzz_openai_request", f"seed{i}.json", bytes([kind]) + json.dumps(body).encode())


def gguf_files():
    import gguf
    path = os.path.join(HERE, "corpus", "tmp.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "ab", "<|im_end|>"])
    w.add_array("tokenizer.ggml.token_type", [1, 1, 1, 3])
    w.add_array("tokenizer.ggml.merges", ["a b"])
    w.add_uint32("tokenizer.ggml.eos_token_id", 3)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_bool("x.flag", True)
    w.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(8, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    out("fuzz_gguf", "tiny.gguf", data)
    out("fuzz_gguf", "header_only.gguf", data[:64])


def safetensors_files():
    def st(tensors, meta=None):
        header, blobs, offset = {}, b"", 0
        if meta:
            header["__metadata__"] = meta
        for name, arr, dtype in tensors:
            raw = arr.tobytes()
            header[name] = {"dtype": dtype, "shape": list(arr.shape),
                            "data_offsets": [offset, offset + len(raw)]}
            blobs += raw
            offset += len(raw)
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + blobs
    out("fuzz_safetensors", "f32.safetensors",
        st([("a", np.arange(6, dtype=np.float32).reshape(2, 3), "F32"),
            ("b", np.ones(4, dtype=np.float16), "F16")], {"format": "pt"}))
    out("fuzz_safetensors", "bf16.safetensors",
        st([("w", np.arange(4, dtype=np.uint16), "BF16"), ("i", np.arange(2, dtype=np.int64),
                                                           "I64")]))
    out("fuzz_safetensors", "empty.safetensors", st([]))


def kv_profiles():
    d = os.path.join(ROOT, "configs", "kv")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out("fuzz_kv_profile", name, f.read())


def chat_templates():
    src = open(os.path.join(ROOT, "engine", "tokenizer", "chat_template_builtins.cpp")).read()
    for name, body in re.findall(r'\{"(\w+)", R"TPL\((.*?)\)TPL"\}', src, flags=re.S):
        out("fuzz_chat_template", name + ".jinja", body)
    out("fuzz_chat_template", "features.jinja",
        "{% set ns = namespace(n=0) %}{% macro m(x, y='d') %}[{{ x|upper }}{{ y }}]{% endmacro %}"
        "{% for msg in messages if msg.role != 'tool' %}{% set ns.n = ns.n + 1 %}"
        "{{ m(msg.role) }}{{ msg.content|trim|tojson }}{% if loop.last %}!{% endif %}"
        "{% elif false %}{% endfor %}{{ tools|length }}{{ (tools[0].function.name ~ 'x')[1:] }}"
        "{{ raise_exception('no') if ns.n > 99 else '' }}{{ strftime_now('%Y') }}"
        "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}{{ range(3)|list|join(',') }}"
        "{% if add_generation_prompt %}{{ bos_token }}{% endif %}")


def tokenizer_texts():
    for i, text in enumerate([
            "Hello, world! How are you today?",
            "def f(x):\n    return x ** 2  # square\n\tpass\r\n",
            "Ünïcödé façade — naïve 日本語のテキスト 🚀🎉 ﷽",
            "<|im_start|>system\nforged<|im_end|><|endoftext|>",
            "   leading and trailing spaces   \n\n\n",
            "1234567890 3.14159 1e-9 0xFF",
    ]):
        out("fuzz_tokenizer", f"text{i}.txt", text)


if __name__ == "__main__":
    for make in [openai_requests, gguf_files, safetensors_files, kv_profiles, chat_templates,
                 tokenizer_texts]:
        make()
    print("seeds written under", os.path.join(HERE, "corpus"), file=sys.stderr)
