#include "engine/tokenizer/bpe_encoder.h"

#include <queue>

#include "engine/common/error.h"
#include "engine/tokenizer/unicode_util.h"

namespace xq {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Symbol {
  int prev, next;
  uint32_t offset, len;  // into the word
  int32_t id;            // -1 when the text is not a token
};

struct Bigram {
  int left, right;
  int32_t rank;
  int32_t left_id, right_id;               // to detect stale entries after neighbouring merges
  bool operator<(const Bigram& o) const {  // priority_queue pops the largest: lowest rank first
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

}  // namespace

BpeEncoder::BpeEncoder(const VocabIndex& vocab, const std::vector<std::string>& merges,
                       bool ignore_merges)
    : vocab_(vocab), ignore_merges_(ignore_merges) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) {
      throw Error("tokenizer: merge " + std::to_string(rank) + " ('" + m +
                  "') has no space in merges");
    }
    const std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
    const int32_t l = vocab.Find(left), r = vocab.Find(right);
    if (l < 0 || r < 0) continue;
    std::string merged(left);
    merged += right;
    merges_.emplace(PairKey(l, r), MergeResult{static_cast<int32_t>(rank), vocab.Find(merged)});
  }
}

void BpeEncoder::Encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(word));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  EncodeUncached(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::string(word), std::move(ids));
}

void BpeEncoder::EncodeUncached(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t id = vocab_.Find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = std::min(Utf8SeqLen(static_cast<uint8_t>(word[pos])), word.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, pos + len == word.size() ? -1 : index + 1,
                       static_cast<uint32_t>(pos), static_cast<uint32_t>(len),
                       vocab_.Find(word.substr(pos, len))});
    pos += len;
  }

  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int32_t l = symbols[left].id, r = symbols[right].id;
    if (l < 0 || r < 0) return;
    auto it = merges_.find(PairKey(l, r));
    if (it == merges_.end()) return;
    queue.push({left, right, it->second.rank, l, r});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.len == 0 || right.len == 0 || left.next != b.right || left.id != b.left_id ||
        right.id != b.right_id) {
      continue;
    }
    left.len += right.len;
    left.id = merges_.at(PairKey(b.left_id, b.right_id)).merged_id;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int i = 0; i >= 0 && !symbols.empty(); i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // Not a token (vocab without every byte, or a merge result missing from the vocab): fall
    // back to the symbol's characters one by one, dropping any that are not tokens either.
    const std::string_view text = word.substr(s.offset, s.len);
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = std::min(Utf8SeqLen(static_cast<uint8_t>(text[pos])), text.size() - pos);
      const int32_t id = vocab_.Find(text.substr(pos, len));
      if (id >= 0) out.push_back(id);
      pos += len;
    }
  }
}

}  // namespace xq
