// PagedKvCache: the KV cache of many sequences in XQuant blocks. Full blocks older than the
// recent window live compressed in one BlockPool (one block id per G tokens, for every layer);
// each sequence keeps its newest tokens in an fp16 window. Attention reads both directly.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/kv/kv_profile.h"
#include "engine/model/kv_cache_factory.h"
#include "engine/model/model_config.h"
#include "kernels/include/xquant_format.h"

namespace xq {

class PagedSequenceCache;

// Told by every sequence's Commit when whole blocks leave its fp16 window (their compressed
// blocks are complete), while the rows are still readable: the prefix cache indexes the blocks
// and keeps fp16 copies of the windows it may need to resume from.
class KvCommitObserver {
 public:
  virtual ~KvCommitObserver() = default;
  // Positions [first, last) (block-aligned) just became compressed.
  virtual void OnLeaveWindow(const PagedSequenceCache& seq, int64_t first, int64_t last) = 0;
};

class PagedKvCache : public KvCacheFactory {
 public:
  // Sizes the pool from a memory budget that the sequences' fp16 windows are charged to as well;
  // one sequence appending max_chunk_tokens at once must fit (kv_budget.h). Throws xq::Error
  // naming the profile or --kv-cache-memory when they do not fit the model.
  static std::unique_ptr<PagedKvCache> FromProfile(const ModelConfig& config,
                                                   const KvProfile& profile, int64_t budget_bytes,
                                                   int64_t max_chunk_tokens);

  PagedKvCache(const ModelConfig& config, KvBlockLayout layout, int64_t recent_window,
               int32_t num_blocks, std::string name);

  std::unique_ptr<SequenceKvCache> NewSequence(int64_t max_tokens) override;
  std::string name() const override { return name_; }

  BlockPool& pool() { return pool_; }
  const KvBlockLayout& layout() const { return layout_; }
  int64_t recent_window() const { return recent_window_; }
  int64_t num_heads() const { return num_heads_; }
  // Pool blocks a window of `rows` fp16 tokens is charged (their pages are returned to the OS:
  // the window itself lives on the heap).
  int64_t WindowCharge(int64_t rows) const;
  void SetCommitObserver(KvCommitObserver* observer) { observer_ = observer; }
  KvCommitObserver* commit_observer() const { return observer_; }
  // Serialises allocation by sequences whose attention runs in parallel without a Reserve.
  std::mutex& allocation_mutex() { return allocation_mutex_; }

 private:
  KvBlockLayout layout_;
  int64_t recent_window_;
  int64_t num_heads_;
  BlockPool pool_;
  std::string name_;
  KvCommitObserver* observer_ = nullptr;
  std::mutex allocation_mutex_;
  int64_t window_bytes_per_token_;
};

// What the prefix cache keeps with each sequence: the chain hashes of its full blocks (known
// ahead from the tokens), and how many leading blocks (the prompt's) deserve an fp16 copy.
struct PrefixTracking {
  std::vector<uint64_t> block_hashes;
  int64_t window_copy_blocks = 0;
};

class PagedSequenceCache : public SequenceKvCache {
 public:
  explicit PagedSequenceCache(PagedKvCache& owner);
  ~PagedSequenceCache() override;  // returns its blocks to the pool
  PagedSequenceCache(const PagedSequenceCache&) = delete;
  PagedSequenceCache& operator=(const PagedSequenceCache&) = delete;

  int64_t length() const override { return length_; }
  void AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k, const float* v,
                       float* out) override;
  void Commit(int64_t n) override;

  // Blocks that appending n more tokens takes from the pool: those leaving the recent window,
  // and the growth of the window's charge.
  int64_t BlocksNeeded(int64_t n) const { return BlocksToGrow(n, n); }
  // Compressed blocks for `total` more tokens plus the window's charge while the next `now` of
  // them are appended: what admitting a prompt takes without pushing others out later.
  int64_t BlocksToGrow(int64_t total, int64_t now) const;
  // Takes them now, so the step itself cannot run out. Throws KvCacheFull when the pool cannot.
  void Reserve(int64_t n) { EnsureCapacity(n); }
  // A copy that shares every compressed block (they are immutable) and copies the fp16 window:
  // for the n > 1 copies of one prompt. Throws KvCacheFull when the copy's window charge does not
  // fit.
  std::unique_ptr<PagedSequenceCache> Fork() const;
  // Blocks this sequence holds: compressed ones plus its window's charge.
  int64_t held_blocks() const {
    return static_cast<int64_t>(blocks_.size() + window_charge_.size());
  }

  // Turns an empty sequence into a prefix of `length` tokens: `blocks` (already referenced for
  // it) hold the positions before QuantizedFrontier(length); the caller then writes the window
  // rows [QuantizedFrontier(length), length) through MutableWindowRow. Throws KvCacheFull (and
  // takes nothing) when the window's charge does not fit.
  void AdoptPrefix(std::vector<int32_t> blocks, int64_t length);
  // Layer `layer`'s fp16 keys (or values) at position pos, window_start() <= pos < length():
  // [num_kv_heads * head_dim].
  const _Float16* WindowRow(int64_t layer, bool values, int64_t pos) const;
  _Float16* MutableWindowRow(int64_t layer, bool values, int64_t pos);

  PrefixTracking prefix;

  const std::vector<int32_t>& block_table() const { return blocks_; }
  int64_t window_start() const { return window_start_; }  // first fp16 position

 private:
  struct Growth {
    int64_t compressed;  // blocks for positions leaving the window
    int64_t window;      // growth of the window's charge
  };
  Growth GrowthFor(int64_t total, int64_t now) const;  // as BlocksToGrow, split
  // Compressed blocks for positions leaving the window and the window charge for n more tokens.
  void EnsureCapacity(int64_t n);
  void ChargeWindow(int64_t blocks);  // allocation_mutex held; the pool has them
  void TrimWindowCharge();
  int64_t FrontierBlocks(int64_t length) const;

  PagedKvCache& owner_;
  std::vector<int32_t> blocks_;         // compressed blocks, position b*G.. in blocks_[b]
  std::vector<int32_t> window_charge_;  // pool blocks standing for the fp16 window's memory
  int64_t length_ = 0;                  // committed tokens
  int64_t window_start_ = 0;  // QuantizedFrontier(length_): positions before it are in blocks
  // Per layer, fp16 rows [window_start_, length_ + pending), each [H * D].
  std::vector<std::vector<_Float16>> window_k_, window_v_;
};

}  // namespace xq
