// KvCacheManager: the host bookkeeping of the paged KV cache: which block ids each sequence
// holds (compressed blocks and fp16 window pages, one pool), refcounts, the prefix index and
// the budget. Everything a step needs is allocated when the step is planned (Reserve); after it
// ran, Commit moves blocks that left the window out and keeps what the prefix cache wants. The
// bytes live in the runner's KvStorage: the manager never touches them, it only says which block
// copies a fork needs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/kv/block_pool.h"
#include "engine/kv/prefix_cache.h"
#include "engine/kv/sequence_kv.h"
#include "kernels/include/xquant_format.h"

namespace xq {

// The KV memory cannot take the step's tokens: a normal condition (the scheduler preempts or
// rejects), never a crash. Nothing was taken.
class KvCacheFull : public Error {
 public:
  using Error::Error;
};

// Copy the bytes of block src over block dst (done by the runner's storage).
struct BlockCopy {
  int32_t src = 0, dst = 0;
};

class KvCacheManager {
 public:
  // profile_name seeds the prefix hashes, so caches of different profiles never mix.
  KvCacheManager(const KvBlockLayout& layout, int64_t recent_window, int32_t num_blocks,
                 bool prefix_caching, const std::string& profile_name);

  const KvBlockLayout& layout() const { return layout_; }
  int64_t recent_window() const { return recent_window_; }
  int64_t block_tokens() const { return layout_.block_tokens; }
  int64_t pages_per_block() const { return layout_.window_pages_per_block; }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  PrefixCache* prefix_cache() { return prefix_.get(); }
  const PrefixCache* prefix_cache() const { return prefix_.get(); }

  // Pool blocks that appending `total` more tokens takes (compressed blocks for positions
  // leaving the window, window pages for the next `now` of them at the step's peak).
  int64_t BlocksToGrow(const SequenceKv& seq, int64_t total, int64_t now) const;
  int64_t BlocksNeeded(const SequenceKv& seq, int64_t n) const { return BlocksToGrow(seq, n, n); }
  // Takes the blocks for appending n tokens in the next step. Throws KvCacheFull (taking
  // nothing) when the pool cannot.
  void Reserve(SequenceKv& seq, int64_t n);
  // The step appended n tokens: window blocks that left the window go (the prefix cache keeps
  // the prompt's), the positions are committed.
  void Commit(SequenceKv& seq, int64_t n);
  // Returns everything seq holds; the prefix cache keeps its full window blocks (the point a
  // follow-up turn or the resumed sequence starts from). seq is empty afterwards.
  void Release(SequenceKv& seq);
  // A copy sharing every full block (n > 1); a partial last window block gets new pages whose
  // bytes must be copied (appended to `copies`) before the next step. Throws KvCacheFull when
  // they do not fit.
  SequenceKv Fork(const SequenceKv& seq, std::vector<BlockCopy>& copies);

  // Prefix caching (no-ops when off): a sequence holding the longest reusable prefix of tokens
  // (empty when none), and the chain hashes a sequence keeps up to date before each step.
  SequenceKv Acquire(std::span<const int32_t> tokens);
  void Track(SequenceKv& seq, std::span<const int32_t> tokens, int64_t prompt_tokens);

  // Blocks a request needs at most: copies share the prompt's compressed blocks; each copy has
  // its window (the first at its peak, while a chunk of max_chunk tokens is appended).
  int64_t BlocksForRequest(int64_t prompt, int64_t total, int64_t copies, int64_t max_chunk) const;
  std::string CheckInvariants() const;

 private:
  int64_t WindowBlocksFor(int64_t window_start, int64_t end) const;
  // Attention sinks in front of seq's window list (xquant_format.h: XqWindowView).
  int64_t SinksHeld(const SequenceKv& seq) const;

  KvBlockLayout layout_;
  int64_t recent_window_;
  BlockPool pool_;
  std::unique_ptr<PrefixCache> prefix_;
};

}  // namespace xq
