// TokenizerSpec: everything needed to build a Tokenizer, filled from GGUF metadata
// (tokenizer.ggml.*) or from a Hugging Face tokenizer.json + tokenizer_config.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xq {

enum class TokenizerKind {
  kByteLevelBpe,     // GGUF "gpt2": GPT-2 / Llama 3 / Qwen2 / SmolLM2 byte-level BPE with merges
  kSentencePieceBpe  // GGUF "llama": SentencePiece BPE with scores and <0xXX> byte fallback
};

// Same values as GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerSpec {
  TokenizerKind kind = TokenizerKind::kByteLevelBpe;
  // Pre-tokenizer family as GGUF's tokenizer.ggml.pre names it ("gpt2", "llama-bpe", "qwen2",
  // "smollm", "default", ...). Selects the split regex for byte-level BPE.
  std::string pre = "default";
  std::vector<std::string> tokens;  // [vocab] token text as stored (byte-level chars or ▁-spaced)
  std::vector<TokenType> types;     // [vocab]
  std::vector<float> scores;        // [vocab] SentencePiece scores (empty for byte-level BPE)
  std::vector<std::string> merges;  // "left right" pairs in rank order (byte-level BPE)
  std::optional<int32_t> bos_id, eos_id, unk_id, pad_id, eot_id;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SentencePiece: prepend "▁" to the input
  std::string chat_template;      // Jinja source, empty when the model has none
  // Byte-level BPE: split regexes that replace the ones `pre` selects (from a Hugging Face
  // tokenizer.json whose pre-tokenizer is not a known family). Applied in order, each to the
  // pieces the previous one produced.
  std::vector<std::string> pre_regexes;
  // Byte-level BPE: a pre-tokenized word that is itself a token is emitted without merging
  // (tokenizer.json model.ignore_merges). Always on for the Llama 3 pre-tokenizer.
  bool ignore_merges = false;
};

}  // namespace xq
