// PrefixCache: reuses the KV of prompt prefixes across requests (shared system prompts,
// multi-turn chat, resuming a preempted sequence). Full compressed blocks are found by a chained
// hash of (parent hash, the block's token ids, KV profile). A resumed sequence must look exactly
// like a fresh run at that point, whose newest R tokens are still fp16, so the cache also keeps
// fp16 copies of windows ("window blocks") in a small pool of its own, evicted LRU.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/kv/paged_kv_cache.h"

namespace xq {

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up
  int64_t hits = 0;     // of those, reused
  int32_t window_blocks_total = 0;
  int32_t window_blocks_cached = 0;
};

class PrefixCache : public KvCommitObserver {
 public:
  // Bytes of one window block: fp16 keys and values of G tokens for every layer.
  static int64_t WindowBlockBytes(const KvBlockLayout& layout);

  // Observes kv's commits (kv must outlive it). window_blocks: capacity of the fp16 window pool;
  // with a recent window of 0 (e.g. the fp16 profile) none are needed.
  PrefixCache(PagedKvCache& kv, int32_t window_blocks);
  ~PrefixCache() override;
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // A new sequence holding the longest reusable prefix of `tokens`, leaving at least the last
  // token to compute (its logits are needed); null when nothing is reusable. Its blocks are
  // referenced (revived from the free list when cached).
  std::unique_ptr<PagedSequenceCache> Acquire(std::span<const int32_t> tokens);
  // Before each step: extends the sequence's chain hashes over the full blocks of `tokens`; the
  // first prompt_tokens / G blocks get fp16 window copies when they leave the window.
  void Track(PagedSequenceCache& seq, std::span<const int32_t> tokens, int64_t prompt_tokens);
  // The sequence is about to end or be preempted: keep copies of its window's full blocks, the
  // point a follow-up turn or the resumed sequence starts from.
  void Release(const PagedSequenceCache& seq);

  void OnLeaveWindow(const PagedSequenceCache& seq, int64_t first, int64_t last) override;

  PrefixCacheStats Stats() const;
  std::string CheckInvariants() const;  // empty when the indexes match the pools

 private:
  uint64_t NextHash(uint64_t parent, std::span<const int32_t> block_tokens) const;
  void CopyWindowBlock(const PagedSequenceCache& seq, int64_t block_index, uint64_t hash);

  PagedKvCache& kv_;
  int64_t block_tokens_;
  int64_t recent_blocks_;  // R / G
  uint64_t profile_seed_;
  std::unordered_map<uint64_t, int32_t> blocks_;         // hash -> compressed block in kv_.pool()
  BlockPool windows_;                                    // [layers][k, v][G][H * D] fp16 per block
  std::unordered_map<uint64_t, int32_t> window_blocks_;  // hash -> block in windows_
  int64_t queries_ = 0, hits_ = 0;
};

}  // namespace xq
