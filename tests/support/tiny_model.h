// Tiny random Llama-family models (hidden 64, 2 layers, 4 heads, 2 KV heads) with small
// tokenizers, built in memory for tests.
#pragma once

#include <cstdint>
#include <string>

#include "engine/model/model_weights.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace xq::test {

struct TinyModelOptions {
  std::string architecture = "llama";  // llama, mistral or qwen2 (qwen2 gets Q/K/V biases)
  bool tie_word_embeddings = false;
  bool sentencepiece = false;  // SentencePiece BPE vocabulary instead of byte-level BPE
  uint32_t seed = 1;
};

// Byte-level BPE: the 256 GPT-2 byte characters, a few dozen merges, ChatML control tokens.
TokenizerSpec TinyByteLevelSpec();
// SentencePiece BPE: <unk> <s> </s>, the 256 <0xXX> byte tokens, then scored pieces.
TokenizerSpec TinySentencePieceSpec();

// Random weights (fixed seed) with shapes matching the config; vocab_size = the tokenizer's.
Model MakeTinyModel(const TinyModelOptions& options = {});

// The model's matrices and token embedding in GGML blocks, Q4_0, Q4_1 and Q8_0 in turn, as a
// GGUF holds them (ggml's reference quantizers; the fp32 values dropped).
Model WithQuantizedMatrices(Model m);

// The GPT-2 byte-to-unicode character (UTF-8) that byte-level vocabularies spell byte `b` with.
std::string ByteLevelChar(uint8_t b);

}  // namespace xq::test
