// TokenizerSpec -> Hugging Face tokenizer.json + tokenizer_config.json, in the shape that
// Tokenizer::SpecFromHfDir reads back into an equivalent spec.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "engine/tokenizer/tokenizer_spec.h"

namespace xq {

// Byte-level BPE: model BPE with vocab + merges and the ByteLevel / Split pre-tokenizer of the
// spec's pre family (its regexes verbatim when the family has no tokenizer.json spelling).
// SentencePiece BPE: byte_fallback BPE whose merges rank pieces by score, with the Replace
// (+ Prepend) "▁" normalizer. Control tokens are special added_tokens, user-defined ones are
// non-special added_tokens. EOT is not expressible; readers recognise it by its text.
nlohmann::ordered_json HfTokenizerJson(const TokenizerSpec& spec);
// add_bos_token / add_eos_token, the special token texts and the chat template.
nlohmann::ordered_json HfTokenizerConfigJson(const TokenizerSpec& spec);

}  // namespace xq
