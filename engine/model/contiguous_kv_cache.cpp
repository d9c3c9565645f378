#include "engine/model/contiguous_kv_cache.h"

#include <cblas.h>

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
    throw KvCacheFull("KV cache full: " + std::to_string(length_ + n) + " tokens exceed capacity " +
                std::to_string(capacity_));
  }
  const int64_t kv_dim = num_kv_heads_ * head_dim_;
  _Float16* layer_k = keys_.data() + layer * capacity_ * kv_dim;
  _Float16* layer_v = values_.data() + layer * capacity_ * kv_dim;
  for (int64_t i = 0; i < n * kv_dim; ++i) {
    layer_k[length_ * kv_dim + i] = static_cast<_Float16>(k[i]);
    layer_v[length_ * kv_dim + i] = static_cast<_Float16>(v[i]);
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  if (n == 1) {
    AttendOneToken(layer_k, layer_v, q, out, scale);
  } else {
    AttendTiled(layer_k, layer_v, n, q, out, scale);
  }
}

// Decode: one query per head, dot products straight from the f16 cache.
void ContiguousKvCache::AttendOneToken(const _Float16* layer_k, const _Float16* layer_v,
                                       const float* q, float* out, float scale) {
  const int64_t kv_dim = num_kv_heads_ * head_dim_, d = head_dim_;
  const int64_t group = num_heads_ / num_kv_heads_, visible = length_ + 1;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(visible)), qh(d), acc(d);
#pragma omp for schedule(static)
    for (int64_t h = 0; h < num_heads_; ++h) {
      const int64_t kv_head = h / group;
      for (int64_t i = 0; i < d; ++i) qh[i] = static_cast<float>(static_cast<_Float16>(q[h * d + i]));
      float max_score = -INFINITY;
      for (int64_t s = 0; s < visible; ++s) {
        const _Float16* ks = layer_k + s * kv_dim + kv_head * d;
        float dot = 0.0f;
        for (int64_t i = 0; i < d; ++i) dot += qh[i] * static_cast<float>(ks[i]);
        scores[s] = dot * scale;
        max_score = std::max(max_score, scores[s]);
      }
      float sum = 0.0f;
      for (int64_t s = 0; s < visible; ++s) sum += (scores[s] = std::exp(scores[s] - max_score));
      const float inv_sum = 1.0f / sum;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const float p = static_cast<float>(static_cast<_Float16>(scores[s] * inv_sum));
        const _Float16* vs = layer_v + s * kv_dim + kv_head * d;
        for (int64_t i = 0; i < d; ++i) acc[i] += p * static_cast<float>(vs[i]);
      }
      std::copy(acc.begin(), acc.end(), out + h * d);
    }
  }
}

// Prefill: K and V hold f16 values, so widening them to f32 once is exact; the products then run
// through BLAS, query tiles of every KV head in parallel.
void ContiguousKvCache::AttendTiled(const _Float16* layer_k, const _Float16* layer_v, int64_t n,
                                    const float* q, float* out, float scale) {
  const int64_t kv_dim = num_kv_heads_ * head_dim_, q_dim = num_heads_ * head_dim_, d = head_dim_;
  const int64_t visible_all = length_ + n, group = num_heads_ / num_kv_heads_;
  k32_.resize(visible_all * kv_dim);
  v32_.resize(visible_all * kv_dim);
  for (int64_t i = 0; i < visible_all * kv_dim; ++i) {
    k32_[i] = static_cast<float>(layer_k[i]);
    v32_[i] = static_cast<float>(layer_v[i]);
  }
  constexpr int64_t kTile = 32;  // query tokens per tile: bounds the score buffer
  const int64_t tiles = (n + kTile - 1) / kTile;
#pragma omp parallel
  {
    std::vector<float> qg, scores, og;
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t g = 0; g < num_kv_heads_; ++g) {
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t t0 = tile * kTile, tn = std::min(kTile, n - t0);
        const int64_t rows = tn * group, cols = length_ + t0 + tn;  // keys any row may see
        qg.resize(rows * d);
        scores.resize(rows * cols);
        og.resize(rows * d);
        for (int64_t t = 0; t < tn; ++t) {
          for (int64_t j = 0; j < group; ++j) {
            const float* src = q + (t0 + t) * q_dim + (g * group + j) * d;
            for (int64_t i = 0; i < d; ++i) {
              qg[(t * group + j) * d + i] = static_cast<float>(static_cast<_Float16>(src[i]));
            }
          }
        }
        // scores[rows, cols] = qg[rows, d] * K_g[cols, d]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, d, 1.0f, qg.data(), d,
                    k32_.data() + g * d, kv_dim, 0.0f, scores.data(), cols);
        for (int64_t r = 0; r < rows; ++r) {
          float* row = scores.data() + r * cols;
          const int64_t visible = length_ + t0 + r / group + 1;
          float max_score = -INFINITY;
          for (int64_t s = 0; s < visible; ++s) max_score = std::max(max_score, row[s] * scale);
          float sum = 0.0f;
          for (int64_t s = 0; s < visible; ++s) sum += (row[s] = std::exp(row[s] * scale - max_score));
          const float inv_sum = 1.0f / sum;
          for (int64_t s = 0; s < visible; ++s) {
            row[s] = static_cast<float>(static_cast<_Float16>(row[s] * inv_sum));
          }
          std::fill(row + visible, row + cols, 0.0f);
        }
        // og[rows, d] = scores[rows, cols] * V_g[cols, d]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, cols, 1.0f, scores.data(),
                    cols, v32_.data() + g * d, kv_dim, 0.0f, og.data(), d);
        for (int64_t t = 0; t < tn; ++t) {
          for (int64_t j = 0; j < group; ++j) {
            std::copy_n(og.data() + (t * group + j) * d, d,
                        out + (t0 + t) * q_dim + (g * group + j) * d);
          }
        }
      }
    }
  }
}

void ContiguousKvCache::Commit(int64_t n) { length_ += n; }

}  // namespace xq
