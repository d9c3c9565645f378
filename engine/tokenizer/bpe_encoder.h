// BpeEncoder: byte-level BPE for one pre-tokenized word: merges applied by rank (lowest first),
// with a per-word cache because the same words recur constantly in real text.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/vocab_index.h"

namespace xq {

class BpeEncoder {
 public:
  // merges: "left right" in rank order. ignore_merges: a word that is itself a token is emitted
  // as is (Llama 3). Throws xq::Error naming the merge when one has no space.
  BpeEncoder(const VocabIndex& vocab, const std::vector<std::string>& merges, bool ignore_merges);

  // `word` is already byte-encoded (GPT-2 table). Appends the ids to `out`.
  void Encode(std::string_view word, std::vector<int32_t>& out) const;

 private:
  void EncodeUncached(std::string_view word, std::vector<int32_t>& out) const;

  struct MergeResult {
    int32_t rank;
    int32_t merged_id;
  };
  const VocabIndex& vocab_;
  bool ignore_merges_;
  // Key: (left id << 32) | right id. Merges whose halves are not tokens can never apply to
  // token symbols, so they are dropped.
  std::unordered_map<uint64_t, MergeResult> merges_;

  static constexpr size_t kMaxCacheEntries = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace xq
