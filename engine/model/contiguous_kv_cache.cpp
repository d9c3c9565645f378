#include "engine/model/contiguous_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/common/error.h"

namespace xq {

ContiguousKvCache::ContiguousKvCache(const ModelConfig& config, int64_t capacity)
    : num_heads_(config.num_heads),
      num_kv_heads_(config.num_kv_heads),
      head_dim_(config.head_dim),
      capacity_(capacity) {
  const size_t n = static_cast<size_t>(config.num_layers * capacity * num_kv_heads_ * head_dim_);
  keys_.resize(n);
  values_.resize(n);
}

void ContiguousKvCache::AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k,
                                        const float* v, float* out) {
  if (length_ + n > capacity_) {
    throw Error("KV cache full: " + std::to_string(length_ + n) + " tokens exceed capacity " +
                std::to_string(capacity_));
  }
  const int64_t kv_dim = num_kv_heads_ * head_dim_, q_dim = num_heads_ * head_dim_;
  float* layer_k = keys_.data() + layer * capacity_ * kv_dim;
  float* layer_v = values_.data() + layer * capacity_ * kv_dim;
  std::memcpy(layer_k + length_ * kv_dim, k, sizeof(float) * n * kv_dim);
  std::memcpy(layer_v + length_ * kv_dim, v, sizeof(float) * n * kv_dim);

  const int64_t group = num_heads_ / num_kv_heads_, d = head_dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(length_ + n));
#pragma omp for collapse(2) schedule(static)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < num_heads_; ++h) {
        const int64_t kv_head = h / group, visible = length_ + t + 1;
        const float* qh = q + t * q_dim + h * d;
        float max_score = -INFINITY;
        for (int64_t s = 0; s < visible; ++s) {
          const float* ks = layer_k + s * kv_dim + kv_head * d;
          float dot = 0.0f;
          for (int64_t i = 0; i < d; ++i) dot += qh[i] * ks[i];
          scores[s] = dot * scale;
          max_score = std::max(max_score, scores[s]);
        }
        float sum = 0.0f;
        for (int64_t s = 0; s < visible; ++s) {
          scores[s] = std::exp(scores[s] - max_score);
          sum += scores[s];
        }
        float* oh = out + t * q_dim + h * d;
        std::fill(oh, oh + d, 0.0f);
        for (int64_t s = 0; s < visible; ++s) {
          const float p = scores[s] / sum;
          const float* vs = layer_v + s * kv_dim + kv_head * d;
          for (int64_t i = 0; i < d; ++i) oh[i] += p * vs[i];
        }
      }
    }
  }
}

void ContiguousKvCache::Commit(int64_t n) { length_ += n; }

}  // namespace xq
