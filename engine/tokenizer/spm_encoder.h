// SpmEncoder: SentencePiece BPE as llama.cpp runs it: repeatedly merge the adjacent pair whose
// concatenation is the highest-scoring token, then fall back to <0xXX> byte tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/vocab_index.h"

namespace xq {

class SpmEncoder {
 public:
  // scores: [vocab]; byte_ids: [256] id of <0xXX> (or of the raw byte as a token), -1 if none.
  SpmEncoder(const VocabIndex& vocab, const std::vector<float>& scores,
             std::vector<int32_t> byte_ids, int32_t unk_id);

  // `text` already has spaces replaced by U+2581. Appends ids to `out`.
  void Encode(std::string_view text, std::vector<int32_t>& out) const;

 private:
  const VocabIndex& vocab_;
  const std::vector<float>& scores_;
  std::vector<int32_t> byte_ids_;
  int32_t unk_id_;
};

}  // namespace xq
