#!/usr/bin/env python3
"""Derives models/SmolLM2-135M-Instruct.Q4_K_M.gguf from the default Q4_1 model with llama.cpp's
own quantizer (llama_model_quantize through llama-cpp-python, built from source by setup.sh), so
tests have a real K-quant file without a download. Idempotent; the result is sha256-checked.

SmolLM2's 576-wide rows are not whole 256-value K-quant blocks, so llama.cpp falls back for them
(Q4_K -> Q5_0, Q6_K -> Q8_0, as it does for any such model): the file holds Q4_K and Q6_K
(ffn_down, 1536 wide), Q5_0 and Q8_0 matrices: the CPU's K-quant kernels and its one exact
transcoding at load (Q5_0 -> Q8_0) both run. Requantizing a Q4_1 file loses quality; the
agreement test compares llama.cpp and xquant on this same file, so that does not matter.
"""
import ctypes
import hashlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
TARGET = ROOT / "models/SmolLM2-135M-Instruct.Q4_K_M.gguf"
# What llama-cpp-python 0.3.36's quantizer writes from SOURCE (deterministic: no imatrix, and
# llama.cpp's quantization does not depend on the thread count).
SHA256 = "dc0f3a02e821146247a0af6895adf9872124f368682cb110cb9ed09ff2a9f9f1"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    if TARGET.exists() and sha256_of(TARGET) == SHA256:
        return
    if not SOURCE.exists():
        sys.exit(f"make_kquant_model: {SOURCE} missing (run scripts/fetch_model.sh first)")
    import llama_cpp  # only needed when the file has to be made

    quiet = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p())  # not one line per tensor
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.allow_requantize = True
    params.nthread = 2
    partial = TARGET.with_suffix(".gguf.partial")
    rc = llama_cpp.llama_model_quantize(str(SOURCE).encode(), str(partial).encode(),
                                        ctypes.byref(params))
    if rc != 0:
        partial.unlink(missing_ok=True)
        sys.exit(f"make_kquant_model: llama_model_quantize failed ({rc})")
    got = sha256_of(partial)
    if got != SHA256:
        partial.unlink()
        sys.exit(f"make_kquant_model: llama.cpp {llama_cpp.__version__} wrote a file with sha256 "
                 f"{got}, expected {SHA256}: the fixtures in tests/fixtures/llamacpp/*_q4_k_m.json "
                 "were made from that one")
    partial.rename(TARGET)
    print(f"make_kquant_model: {TARGET.relative_to(ROOT)} ready", file=sys.stderr)


if __name__ == "__main__":
    main()
