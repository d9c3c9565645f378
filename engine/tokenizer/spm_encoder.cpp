#include "engine/tokenizer/spm_encoder.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "engine/tokenizer/unicode_util.h"

namespace xq {
namespace {

struct Symbol {
  int prev, next;
  size_t offset, len;
};

struct Bigram {
  int left, right;
  float score;
  size_t size;
  bool operator<(const Bigram& o) const {  // highest score first, then leftmost
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

SpmEncoder::SpmEncoder(const VocabIndex& vocab, const std::vector<float>& scores,
                       std::vector<int32_t> byte_ids, int32_t unk_id)
    : vocab_(vocab), scores_(scores), byte_ids_(std::move(byte_ids)), unk_id_(unk_id) {}

void SpmEncoder::Encode(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(Utf8SeqLen(static_cast<uint8_t>(text[pos])), text.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, pos + len == text.size() ? -1 : index + 1, pos, len});
    pos += len;
  }
  if (symbols.empty()) return;

  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged =
        text.substr(symbols[left].offset, symbols[left].len + symbols[right].len);
    const int32_t id = vocab_.Find(merged);
    if (id < 0 || static_cast<size_t>(id) >= scores_.size()) return;
    queue.push({left, right, scores_[id], merged.size()});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.size) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  // Merged symbols are always tokens (only token texts are queued); a lone character that is
  // not one falls back to byte tokens, or to one unk when the vocab has no byte tokens.
  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].offset, symbols[i].len);
    const int32_t id = vocab_.Find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    const bool has_bytes = std::all_of(piece.begin(), piece.end(), [&](char c) {
      return byte_ids_[static_cast<uint8_t>(c)] >= 0;
    });
    if (has_bytes) {
      for (char c : piece) out.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    } else if (unk_id_ >= 0) {
      out.push_back(unk_id_);
    }
  }
}

}  // namespace xq
