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
  _Float16* layer_k = keys_.data() + layer * capacity_ * kv_dim;
  _Float16* layer_v = values_.data() + layer * capacity_ * kv_dim;
  for (int64_t i = 0; i < n * kv_dim; ++i) {
    layer_k[length_ * kv_dim + i] = static_cast<_Float16>(k[i]);
    layer_v[length_ * kv_dim + i] = static_cast<_Float16>(v[i]);
  }

  const int64_t group = num_heads_ / num_kv_heads_, d = head_dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(length_ + n));
    std::vector<float> qh(static_cast<size_t>(d)), acc(static_cast<size_t>(d));
#pragma omp for collapse(2) schedule(static)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < num_heads_; ++h) {
        const int64_t kv_head = h / group, visible = length_ + t + 1;
        for (int64_t i = 0; i < d; ++i) {
          qh[i] = static_cast<float>(static_cast<_Float16>(q[t * q_dim + h * d + i]));
        }
        float max_score = -INFINITY;
        for (int64_t s = 0; s < visible; ++s) {
          const _Float16* ks = layer_k + s * kv_dim + kv_head * d;
          float dot = 0.0f;
          for (int64_t i = 0; i < d; ++i) dot += qh[i] * static_cast<float>(ks[i]);
          scores[s] = dot * scale;
          max_score = std::max(max_score, scores[s]);
        }
        float sum = 0.0f;
        for (int64_t s = 0; s < visible; ++s) {
          scores[s] = std::exp(scores[s] - max_score);
          sum += scores[s];
        }
        const float inv_sum = 1.0f / sum;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t s = 0; s < visible; ++s) {
          const float p = static_cast<float>(static_cast<_Float16>(scores[s] * inv_sum));
          const _Float16* vs = layer_v + s * kv_dim + kv_head * d;
          for (int64_t i = 0; i < d; ++i) acc[i] += p * static_cast<float>(vs[i]);
        }
        std::copy(acc.begin(), acc.end(), out + t * q_dim + h * d);
      }
    }
  }
}

void ContiguousKvCache::Commit(int64_t n) { length_ += n; }

}  // namespace xq
