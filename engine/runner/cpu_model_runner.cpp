#include "engine/runner/cpu_model_runner.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/common/error.h"
#include "engine/model/cpu_kernel_weights.h"
#include "engine/model/dequantize.h"
#include "engine/runner/batch_validation.h"
#include "kernels/include/qgemm.h"
#include "kernels/include/thread_pool.h"
#include "kernels/include/xquant_batch.h"
#include "kernels/include/xquant_rotation.h"

namespace xq {

// y[rows, out] = x[rows, in] * W[out, in]^T (+ y when accumulate). Quantized weights go through
// the 8-bit activation kernels (kernels/include/qgemm.h), fp32 weights through OpenBLAS.
void CpuModelRunner::MatMul(const float* x, int64_t rows, int64_t in, const Tensor& w, float* y,
                            bool accumulate) {
  const int64_t out = w.rows();
  if (w.quantized()) {
    const QWeightType type = QWeightTypeOf(w.block_type);
    activations_q8_.resize(QuantizedActivationBytes(type, rows, in));
    QuantizeActivations(type, x, rows, in, activations_q8_.data());
    QGemm({.type = type,
           .w = w.blocks.data(),
           .out = out,
           .in = in,
           .xq = activations_q8_.data(),
           .rows = rows,
           .y = y,
           .accumulate = accumulate,
           .packed = w.packed});
    return;
  }
  const float beta = accumulate ? 1.0f : 0.0f;
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w.data.data(), in, x, 1, beta, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, w.data.data(),
                in, beta, y, out);
  }
}

namespace {

void AddBias(float* y, int64_t rows, const Tensor& bias) {
  if (bias.empty()) return;
  const int64_t n = bias.rows();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) y[r * n + i] += bias.data[i];
  }
}

void RmsNorm(const float* x, int64_t rows, int64_t dim, const Tensor& weight, float eps,
             float* out) {
  auto norm_row = [&](int64_t r) {
    const float* xr = x + r * dim;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum_sq += double(xr[i]) * xr[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(sum_sq / dim) + eps);
    float* o = out + r * dim;
    for (int64_t i = 0; i < dim; ++i) o[i] = xr[i] * inv * weight.data[i];
  };
  ComputePool().ParallelFor(rows, Schedule::kStatic, norm_row, rows > 4);
}

// Rotate-half RoPE on [rows, heads * head_dim], row r at positions[r]. The angle of pair i is
// position * theta_scale^i built by repeated float multiplication, exactly as llama.cpp does, so
// long contexts see the same rounding.
void ApplyRope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const int32_t* positions,
               const RopeTable& rope) {
  const int64_t half = head_dim / 2;
  auto rotate_row = [&](int64_t r) {
    float cos_t[512], sin_t[512];  // head_dim <= 1024 is checked in the constructor
    float theta = static_cast<float>(positions[r]);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = rope.freq_scale * (theta / rope.freq_divisors[i]);
      cos_t[i] = std::cos(angle);
      sin_t[i] = std::sin(angle);
      theta *= rope.theta_scale;
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (r * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos_t[i] - b * sin_t[i];
        v[i + half] = a * sin_t[i] + b * cos_t[i];
      }
    }
  };
  ComputePool().ParallelFor(rows, Schedule::kStatic, rotate_row, rows > 4);
}

// Every head vector of [rows, heads * head_dim] into (or back out of) the KV cache's rotated basis.
void RotateHeads(float* x, int64_t rows, int64_t heads, int64_t head_dim, bool inverse) {
  const int64_t vectors = rows * heads;
  ComputePool().ParallelFor(
      vectors, Schedule::kStatic,
      [&](int64_t i) { RotateHead(x + i * head_dim, head_dim, inverse); }, vectors > 64);
}

// gate = SiLU(gate) * up, elementwise over n values.
void SiluMul(float* gate, const float* up, int64_t n) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  };
  ComputePool().ParallelForRanges(n, 4096, range, n > 65536);
}

}  // namespace

CpuModelRunner::CpuModelRunner(const Model& model) : model_(model) {
  if (model.config.head_dim > 1024) throw Error(model.source + ": head_dim above 1024");
  if (HasSyntheticValues(model.weights)) {
    throw Error(model.source + ": its values are left for the CUDA device to generate; the CPU " +
                "runner needs them in memory");
  }
  rope_ = MakeRopeTable(model);
}

void CpuModelRunner::AllocateKv(const KvConfig& config) {
  ValidateKvConfig(config, model_.config);
  storage_.reset();
  storage_ = std::make_unique<HostKvStorage>(config.layout.block_bytes, config.num_blocks);
  kv_ = config;
}

KvStorage& CpuModelRunner::kv_storage() {
  if (!storage_) throw Error("model runner: the KV storage is not allocated");
  return *storage_;
}

void CpuModelRunner::Attend(const BatchInputs& in, int64_t layer) {
  const ModelConfig& c = model_.config;
  XqBatchKv kv;
  kv.layout = &kv_.layout;
  kv.arena = storage_->arena();
  kv.num_seqs = in.num_seqs();
  kv.qo_indptr = in.qo_indptr.data();
  kv.kv_len = in.kv_len.data();
  kv.block_indptr = in.block_indptr.data();
  kv.block_ids = in.block_ids.data();
  kv.window_indptr = in.window_indptr.data();
  kv.window_pages = in.window_pages.data();
  kv.window_start = in.window_start.data();
  XqWriteWindowRows(kv, layer, k_.data(), v_.data());
  // Blocks leaving the window get this layer's codes and params (the layer below, whose codes
  // a sharing layer borrows, was written when it ran).
  const XqQuantizeJobs jobs{static_cast<int64_t>(in.quantize_blocks.size()),
                            in.quantize_pages.data(), in.quantize_blocks.data()};
  XqQuantizeWindowBlocks(kv, layer, jobs);
  XqBatchAttentionParams p;
  p.kv = kv;
  p.layer = layer;
  p.q = q_.data();
  p.num_heads = c.num_heads;
  p.recent_window = kv_.recent_window;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.out = attn_.data();
  XqBatchAttention(p);
}

void CpuModelRunner::Execute(const BatchInputs& batch, std::vector<float>& logits) {
  if (!storage_) throw Error("batch inputs: no KV storage allocated");
  ValidateBatchInputs(batch, model_.config, kv_);
  const ModelConfig& c = model_.config;
  const ModelWeights& w = model_.weights;
  const int64_t n = batch.num_tokens();
  const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;

  x_.resize(n * h);
  xn_.resize(n * h);
  q_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  attn_.resize(n * q_dim);
  gate_.resize(n * ff);
  up_.resize(n * ff);

  const Tensor& embedding = w.token_embedding;
  for (int64_t t = 0; t < n; ++t) DequantizeMatrixRow(embedding, batch.tokens[t], x_.data() + t * h);

  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const LayerWeights& l = w.layers[layer];
    RmsNorm(x_.data(), n, h, l.attn_norm, c.rms_norm_eps, xn_.data());
    MatMul(xn_.data(), n, h, l.wq, q_.data());
    MatMul(xn_.data(), n, h, l.wk, k_.data());
    MatMul(xn_.data(), n, h, l.wv, v_.data());
    AddBias(q_.data(), n, l.bq);
    AddBias(k_.data(), n, l.bk);
    AddBias(v_.data(), n, l.bv);
    ApplyRope(q_.data(), n, c.num_heads, c.head_dim, batch.positions.data(), rope_);
    ApplyRope(k_.data(), n, c.num_kv_heads, c.head_dim, batch.positions.data(), rope_);
    const KvLayerSpec& spec = kv_.layout.layers[layer];
    if (spec.k.rotated) {
      RotateHeads(q_.data(), n, c.num_heads, c.head_dim, /*inverse=*/false);
      RotateHeads(k_.data(), n, c.num_kv_heads, c.head_dim, /*inverse=*/false);
    }
    if (spec.v.rotated) RotateHeads(v_.data(), n, c.num_kv_heads, c.head_dim, /*inverse=*/false);

    Attend(batch, layer);
    if (spec.v.rotated) RotateHeads(attn_.data(), n, c.num_heads, c.head_dim, /*inverse=*/true);
    MatMul(attn_.data(), n, q_dim, l.wo, x_.data(), /*accumulate=*/true);

    RmsNorm(x_.data(), n, h, l.ffn_norm, c.rms_norm_eps, xn_.data());
    MatMul(xn_.data(), n, h, l.w_gate, gate_.data());
    MatMul(xn_.data(), n, h, l.w_up, up_.data());
    SiluMul(gate_.data(), up_.data(), n * ff);
    MatMul(gate_.data(), n, ff, l.w_down, x_.data(), /*accumulate=*/true);
  }

  const int64_t rows = static_cast<int64_t>(batch.logits_rows.size());
  std::vector<float> last(rows * h);
  for (int64_t i = 0; i < rows; ++i) {
    RmsNorm(x_.data() + batch.logits_rows[i] * h, 1, h, w.output_norm, c.rms_norm_eps,
            last.data() + i * h);
  }
  logits.resize(rows * c.vocab_size);
  if (rows > 0) MatMul(last.data(), rows, h, model_.output_matrix(), logits.data());
}

}  // namespace xq
