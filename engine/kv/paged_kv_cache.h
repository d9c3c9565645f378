// PagedKvCache: the KV cache of many sequences in XQuant blocks. Full blocks older than the
// recent window live compressed in one BlockPool (one block id per G tokens, for every layer);
// each sequence keeps its newest tokens in an fp16 window. Attention reads both directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/kv/kv_profile.h"
#include "engine/model/kv_cache_factory.h"
#include "engine/model/model_config.h"
#include "kernels/include/xquant_format.h"

namespace xq {

class PagedKvCache : public KvCacheFactory {
 public:
  // Sizes the pool from a memory budget shared with the fp16 windows of up to max_num_seqs
  // sequences prefilled in chunks of at most max_chunk_tokens (kv_budget.h). Throws xq::Error
  // naming the profile or --kv-cache-memory when they do not fit the model.
  static std::unique_ptr<PagedKvCache> FromProfile(const ModelConfig& config,
                                                   const KvProfile& profile, int64_t budget_bytes,
                                                   int64_t max_num_seqs, int64_t max_chunk_tokens);

  PagedKvCache(const ModelConfig& config, KvBlockLayout layout, int64_t recent_window,
               int32_t num_blocks, std::string name);

  std::unique_ptr<SequenceKvCache> NewSequence(int64_t max_tokens) override;
  std::string name() const override { return name_; }

  BlockPool& pool() { return pool_; }
  const KvBlockLayout& layout() const { return layout_; }
  int64_t recent_window() const { return recent_window_; }
  int64_t num_heads() const { return num_heads_; }

 private:
  KvBlockLayout layout_;
  int64_t recent_window_;
  int64_t num_heads_;
  BlockPool pool_;
  std::string name_;
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

  const std::vector<int32_t>& block_table() const { return blocks_; }
  int64_t window_start() const { return window_start_; }  // first fp16 position

 private:
  void EnsureBlocks(int64_t count);

  PagedKvCache& owner_;
  std::vector<int32_t> blocks_;  // compressed blocks, position b*G.. in blocks_[b]
  int64_t length_ = 0;           // committed tokens
  int64_t window_start_ = 0;     // QuantizedFrontier(length_): positions before it are in blocks
  // Per layer, fp16 rows [window_start_, length_ + pending), each [H * D].
  std::vector<std::vector<_Float16>> window_k_, window_v_;
};

}  // namespace xq
