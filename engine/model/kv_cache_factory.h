// KvCacheFactory: makes the per-sequence KV caches the forward pass writes into, so the same
// driver code runs over the contiguous reference cache or the paged XQuant cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/model/contiguous_kv_cache.h"
#include "engine/model/sequence_kv_cache.h"

namespace xq {

class KvCacheFactory {
 public:
  virtual ~KvCacheFactory() = default;
  // A cache for one sequence of at most max_tokens tokens. Throws xq::Error when the memory
  // budget cannot hold it.
  virtual std::unique_ptr<SequenceKvCache> NewSequence(int64_t max_tokens) = 0;
  virtual std::string name() const = 0;
};

class ContiguousKvCacheFactory : public KvCacheFactory {
 public:
  explicit ContiguousKvCacheFactory(const ModelConfig& config) : config_(config) {}
  std::unique_ptr<SequenceKvCache> NewSequence(int64_t max_tokens) override {
    return std::make_unique<ContiguousKvCache>(config_, max_tokens);
  }
  std::string name() const override { return "contiguous-fp16"; }

 private:
  ModelConfig config_;
};

}  // namespace xq
