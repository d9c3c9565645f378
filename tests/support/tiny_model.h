// Tiny random Llama-family models (hidden 64 unless asked, 2 layers, 4 heads, 2 KV heads) with
// small tokenizers, built in memory for tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace xq::test {

struct TinyModelOptions {
  std::string architecture = "llama";  // llama, mistral or qwen2 (qwen2 gets Q/K/V biases)
  bool tie_word_embeddings = false;
  bool sentencepiece = false;  // SentencePiece BPE vocabulary instead of byte-level BPE
  uint32_t seed = 1;
  // Width: intermediate twice it, head_dim a quarter of it (4 heads). 256 makes every matrix's
  // rows whole K-quant super-blocks.
  int64_t hidden_size = 64;
};

// Byte-level BPE: the 256 GPT-2 byte characters, a few dozen merges, ChatML control tokens.
TokenizerSpec TinyByteLevelSpec();
// SentencePiece BPE: <unk> <s> </s>, the 256 <0xXX> byte tokens, then scored pieces.
TokenizerSpec TinySentencePieceSpec();

// Random weights (fixed seed) with shapes matching the config; vocab_size = the tokenizer's.
Model MakeTinyModel(const TinyModelOptions& options = {});

// The model's matrices and token embedding in GGML blocks, of `types` in turn, as a GGUF holds
// them (ggml's reference quantizers; K-quants: k_quant_encoder.h, hidden_size 256; the fp32
// values dropped).
Model WithQuantizedMatrices(Model m, const std::vector<GgmlType>& types = {
                                         GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0});

// The GPT-2 byte-to-unicode character (UTF-8) that byte-level vocabularies spell byte `b` with.
std::string ByteLevelChar(uint8_t b);

}  // namespace xq::test
