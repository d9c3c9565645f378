// PrefixCache: reuses the KV of prompt prefixes across requests (shared system prompts,
// multi-turn chat, resuming a preempted sequence). Full compressed blocks are found by a chained
// hash of (parent hash, the block's token ids, KV profile), confirmed by comparing the token ids.
// A resumed sequence must look exactly like a fresh run at that point, whose newest R tokens are
// still fp16, so the cache also keeps window blocks (their pages, in the same pool) of prompts
// and of finished or preempted sequences. Everything it keeps is free and revivable: the pool's
// LRU order evicts it when memory is needed. Host bookkeeping only; no bytes are copied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/kv/sequence_kv.h"
#include "kernels/include/xquant_format.h"

namespace xq {

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up
  int64_t hits = 0;     // of those, reused
};

// A prefix found for a new sequence: `length` positions, its blocks already referenced.
struct PrefixHit {
  int64_t length = 0;  // 0: nothing reusable
  std::vector<int32_t> blocks;
  std::vector<int32_t> window_pages;
  std::vector<uint64_t> block_hashes;
};

class PrefixCache {
 public:
  // The chain hash of a block from its parent's hash and its token ids.
  using HashFn = uint64_t (*)(uint64_t seed, uint64_t parent, std::span<const int32_t> tokens);
  // pool must outlive the cache. profile_seed separates caches of different KV profiles. hash
  // replaces the default (splitmix-based) chain hash: tests use a colliding one.
  PrefixCache(BlockPool& pool, const KvBlockLayout& layout, int64_t recent_window,
              uint64_t profile_seed, HashFn hash = nullptr);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;

  // Blocks differ whenever the profile or its layout does, so the seed covers both.
  static uint64_t ProfileSeed(const std::string& profile_name, const KvBlockLayout& layout,
                              int64_t recent_window);
  PrefixCache& operator=(const PrefixCache&) = delete;

  // Extends the sequence's chain hashes over the full blocks of `tokens`; the first
  // prompt_tokens / G blocks keep their window blocks when they leave the window.
  void Track(SequenceKv& seq, std::span<const int32_t> tokens, int64_t prompt_tokens) const;
  // The longest reusable prefix of `tokens`, leaving at least the last token to compute (its
  // logits are needed); its blocks are referenced (revived when free).
  PrefixHit Acquire(std::span<const int32_t> tokens);
  // Block b of seq (hashed) now holds compressed positions: index it.
  void IndexCompressed(const SequenceKv& seq, int64_t b);
  // Block b of seq is full in its window `pages` (still referenced by seq): keep them.
  void KeepWindowBlock(const SequenceKv& seq, int64_t b, std::span<const int32_t> pages);

  PrefixCacheStats Stats() const;
  std::string CheckInvariants() const;  // empty when the indexes match the pool

 private:
  struct Entry {
    uint64_t parent = 0;
    std::vector<int32_t> tokens;  // the block's token ids, compared on every hit
    std::vector<int32_t> ids;     // the compressed block, or the window block's pages
  };
  uint64_t NextHash(uint64_t parent, std::span<const int32_t> block_tokens) const;
  // The entry for hash when its parent and tokens match.
  const Entry* Find(const std::unordered_map<uint64_t, Entry>& index, uint64_t hash,
                    uint64_t parent, std::span<const int32_t> tokens) const;
  void OnEvict(int32_t block, uint64_t hash);
  // Whether any window block is ever needed to resume a prefix (a recent window or sinks).
  bool KeepsWindows() const { return recent_blocks_ > 0 || sink_blocks_ > 0; }
  void DropWindowEntry(uint64_t hash);

  BlockPool& pool_;
  int64_t block_tokens_;
  int64_t recent_blocks_;  // R / G
  int64_t sink_blocks_;    // attention sinks: window blocks a hit needs besides the recent ones
  uint64_t profile_seed_;
  HashFn hash_;
  std::unordered_map<uint64_t, Entry> compressed_;     // chain hash -> compressed block
  std::unordered_map<uint64_t, Entry> windows_;        // chain hash -> window block pages
  std::unordered_map<uint64_t, uint64_t> page_owner_;  // a window page's hash -> chain hash
  uint64_t next_page_salt_ = 1;
  int64_t queries_ = 0, hits_ = 0;
};

}  // namespace xq
