#include "engine/model/gguf_tokenizer.h"

#include "engine/common/error.h"

namespace xq {

TokenizerSpec TokenizerSpecFromGguf(const GgufFile& file) {
  const std::string where = file.path().string();
  TokenizerSpec spec;
  const std::string model = file.GetString("tokenizer.ggml.model");
  if (model == "gpt2") {
    spec.kind = TokenizerKind::kByteLevelBpe;
  } else if (model == "llama") {
    spec.kind = TokenizerKind::kSentencePieceBpe;
  } else {
    throw Error(where + ": tokenizer.ggml.model '" + model +
                "' is not supported (gpt2 byte-level BPE, llama SentencePiece BPE)");
  }
  spec.pre = file.GetStringOpt("tokenizer.ggml.pre").value_or("default");
  spec.tokens = file.GetStringArray("tokenizer.ggml.tokens");
  const size_t vocab = spec.tokens.size();
  if (vocab == 0) throw Error(where + ": tokenizer.ggml.tokens is empty");

  if (file.Find("tokenizer.ggml.token_type")) {
    for (int64_t t : file.GetIntArray("tokenizer.ggml.token_type")) {
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        throw Error(where + ": tokenizer.ggml.token_type has invalid value " + std::to_string(t));
      }
      spec.types.push_back(static_cast<TokenType>(t));
    }
    if (spec.types.size() != vocab) {
      throw Error(where + ": tokenizer.ggml.token_type has " + std::to_string(spec.types.size()) +
                  " entries for " + std::to_string(vocab) + " tokens");
    }
  } else {
    spec.types.assign(vocab, TokenType::kNormal);
  }
  if (file.Find("tokenizer.ggml.scores")) {
    for (double s : file.GetFloatArray("tokenizer.ggml.scores")) spec.scores.push_back(float(s));
    if (spec.scores.size() != vocab) {
      throw Error(where + ": tokenizer.ggml.scores has " + std::to_string(spec.scores.size()) +
                  " entries for " + std::to_string(vocab) + " tokens");
    }
  }
  if (file.Find("tokenizer.ggml.merges")) spec.merges = file.GetStringArray("tokenizer.ggml.merges");
  if (spec.kind == TokenizerKind::kByteLevelBpe && spec.merges.empty()) {
    throw Error(where + ": tokenizer.ggml.merges is missing for a gpt2 tokenizer");
  }

  auto token_id = [&](const char* key) -> std::optional<int32_t> {
    auto id = file.GetIntOpt(key);
    if (!id) return std::nullopt;
    if (*id < 0 || *id >= static_cast<int64_t>(vocab)) {
      // Some converters write -1 or out-of-range ids for "none"; treat as absent.
      return std::nullopt;
    }
    return static_cast<int32_t>(*id);
  };
  spec.bos_id = token_id("tokenizer.ggml.bos_token_id");
  spec.eos_id = token_id("tokenizer.ggml.eos_token_id");
  spec.unk_id = token_id("tokenizer.ggml.unknown_token_id");
  spec.pad_id = token_id("tokenizer.ggml.padding_token_id");
  spec.eot_id = token_id("tokenizer.ggml.eot_token_id");
  // llama.cpp's defaults: SentencePiece vocabularies add BOS and a space prefix unless told not to.
  const bool spm = spec.kind == TokenizerKind::kSentencePieceBpe;
  spec.add_bos = file.GetBoolOpt("tokenizer.ggml.add_bos_token").value_or(spm);
  spec.add_eos = file.GetBoolOpt("tokenizer.ggml.add_eos_token").value_or(false);
  spec.add_space_prefix = file.GetBoolOpt("tokenizer.ggml.add_space_prefix").value_or(spm);
  spec.chat_template = file.GetStringOpt("tokenizer.chat_template").value_or("");
  return spec;
}

}  // namespace xq
