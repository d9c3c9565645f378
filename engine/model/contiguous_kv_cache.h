// ContiguousKvCache: an uncompressed fp16 KV cache for one sequence with a fixed capacity. The
// reference the XQuant paged cache is checked against, and the cache of `xquant generate`.
// Attention rounds like llama.cpp's CPU path (f16 K/V, queries and probabilities rounded to f16,
// f32 accumulation), so our logits agree with it to float summation order.
#pragma once

#include <vector>

#include "engine/model/model_config.h"
#include "engine/model/sequence_kv_cache.h"

namespace xq {

class ContiguousKvCache : public SequenceKvCache {
 public:
  ContiguousKvCache(const ModelConfig& config, int64_t capacity);

  int64_t length() const override { return length_; }
  int64_t capacity() const { return capacity_; }
  void AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k, const float* v,
                       float* out) override;
  void Commit(int64_t n) override;
  void Clear() { length_ = 0; }

 private:
  void AttendOneToken(const _Float16* layer_k, const _Float16* layer_v, const float* q, float* out,
                      float scale);
  void AttendTiled(const _Float16* layer_k, const _Float16* layer_v, int64_t n, const float* q,
                   float* out, float scale);

  int64_t num_heads_, num_kv_heads_, head_dim_, capacity_;
  int64_t length_ = 0;
  std::vector<_Float16> keys_;    // [layers, capacity, kv_heads * head_dim]
  std::vector<_Float16> values_;  // [layers, capacity, kv_heads * head_dim]
  std::vector<float> k32_, v32_;  // [visible, kv_heads * head_dim] one layer widened to f32
};

}  // namespace xq
