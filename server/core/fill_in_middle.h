// Fill-in-the-middle (completions' `suffix`): the special tokens code models are trained with to
// write what goes between a prefix and a suffix, found by name in the vocabulary.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/tokenizer/tokenizer_spec.h"

namespace xq {

struct FimTokens {
  int32_t prefix, suffix, middle;  // prompt: prefix <prefix text> suffix <suffix text> middle
};

// StarCoder / Refact (<fim_prefix>), Qwen2.5-Coder (<|fim_prefix|>), DeepSeek-Coder
// (<｜fim▁begin｜>, hole, end) and Code Llama (<PRE>, <SUF>, <MID>); nullopt when none is there.
std::optional<FimTokens> FindFimTokens(const TokenizerSpec& spec);

}  // namespace xq
