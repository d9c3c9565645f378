#include "engine/runner/cuda/cuda_model_runner.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/runner/batch_validation.h"
#include "kernels/cuda/ops.h"

namespace xq {

CudaDeviceInfo ProbeCudaDevice() {
  CudaDeviceInfo info;
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess || count == 0) {
    info.why_not = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    cudaGetLastError();  // clear the sticky error so later calls are not blamed for it
    return info;
  }
  cudaDeviceProp prop{};
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || cudaSetDevice(0) != cudaSuccess ||
      cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    info.why_not = cudaGetErrorString(cudaGetLastError());
    return info;
  }
  info.available = true;
  info.name = prop.name;
  info.total_bytes = static_cast<int64_t>(total_bytes);
  info.free_bytes = static_cast<int64_t>(free_bytes);
  return info;
}

// The step's BatchInputs tables in device memory (positions and logits rows as int32, as the
// kernels index them).
struct CudaModelRunner::StepTables {
  DeviceBuffer<int32_t> tokens, positions, block_ids, window_pages, quantize_pages, quantize_blocks,
      logits_rows, sampled_tokens, raw_slots;
  DeviceBuffer<int64_t> qo_indptr, kv_len, block_indptr, window_indptr, window_start, sampled_rows,
      sampled_edit_indptr;
  DeviceBuffer<LogitEdit> logit_edits;
  DeviceBuffer<RowSampling> row_sampling;
  DeviceBuffer<RowLogprobs> row_logprobs;
  DeviceBuffer<uint32_t> allowed_tokens;
};

CudaModelRunner::CudaModelRunner(const Model& model)
    : model_(model), tables_(std::make_unique<StepTables>()) {
  if (model.config.head_dim > cuda::kMaxAttentionHeadDim) {
    throw Error(model.source + ": head_dim " + std::to_string(model.config.head_dim) +
                " is above the CUDA attention kernel's " +
                std::to_string(cuda::kMaxAttentionHeadDim));
  }
  CheckCuda(cudaSetDevice(0), "selecting device 0");
  CheckCuda(cudaStreamCreate(&stream_), "creating a stream");
  gemm_ = std::make_unique<cuda::Gemm>(stream_);
  rope_ = MakeRopeTable(model);
  rope_divisors_.Upload(rope_.freq_divisors, stream_);
  weights_ = UploadWeights(model, stream_);
}

CudaModelRunner::~CudaModelRunner() {
  cudaStreamSynchronize(stream_);
  gemm_.reset();
  cudaStreamDestroy(stream_);
}

void CudaModelRunner::AllocateKv(const KvConfig& config) {
  ValidateKvConfig(config, model_.config);
  storage_.reset();
  storage_ =
      std::make_unique<DeviceKvStorage>(config.layout.block_bytes, config.num_blocks, stream_);
  layout_.Upload(&config.layout, 1, stream_);
  kv_ = config;
}

KvStorage& CudaModelRunner::kv_storage() {
  if (!storage_) throw Error("model runner: the KV storage is not allocated");
  return *storage_;
}

void CudaModelRunner::Reserve(int64_t tokens) {
  if (tokens <= reserved_tokens_) return;
  const ModelConfig& c = model_.config;
  const auto n = static_cast<size_t>(tokens);
  const size_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim;
  const size_t kv_dim = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;
  x_.Reserve(n * h);
  xn_.Reserve(n * h);
  q_.Reserve(n * q_dim);
  k_.Reserve(n * kv_dim);
  v_.Reserve(n * kv_dim);
  attn_.Reserve(n * q_dim);
  gate_.Reserve(n * ff);
  up_.Reserve(n * ff);
  half_.Reserve(n * std::max({h, q_dim, ff}));
  reserved_tokens_ = tokens;
}

// Every layer attends over the same sequences: one split plan and workspace per step.
void CudaModelRunner::PlanAttention(const BatchInputs& in) {
  const ModelConfig& c = model_.config;
  const int64_t n = in.num_tokens();
  if (n == 0) return;
  const int64_t longest = *std::max_element(in.kv_len.begin(), in.kv_len.end());
  attention_split_ = cuda::PlanAttentionSplit(n, c.num_kv_heads, longest);
  attention_workspace_.Reserve(static_cast<size_t>(
      cuda::AttentionWorkspaceFloats(n, c.num_heads, c.head_dim, attention_split_)));
}

void CudaModelRunner::UploadTables(const BatchInputs& in) {
  StepTables& t = *tables_;
  auto up = [&](auto& dst, const auto& host) {
    if (!host.empty()) dst.Upload(host, stream_);
  };
  up(t.tokens, in.tokens);
  up(t.positions, in.positions);
  up(t.qo_indptr, in.qo_indptr);
  up(t.kv_len, in.kv_len);
  up(t.block_indptr, in.block_indptr);
  up(t.block_ids, in.block_ids);
  up(t.window_indptr, in.window_indptr);
  up(t.window_pages, in.window_pages);
  up(t.window_start, in.window_start);
  up(t.quantize_pages, in.quantize_pages);
  up(t.quantize_blocks, in.quantize_blocks);
  const std::vector<int32_t> rows(in.logits_rows.begin(), in.logits_rows.end());
  up(t.logits_rows, rows);
  up(t.sampled_rows, in.sampled_rows);
  up(t.sampled_edit_indptr, in.sampled_edit_indptr);
  up(t.logit_edits, in.logit_edits);
  up(t.row_sampling, in.row_sampling);
  up(t.allowed_tokens, in.allowed_tokens);
}

void CudaModelRunner::MatMul(const float* x, int64_t n, int64_t in, const DeviceBuffer<uint16_t>& w,
                             int64_t out, float* y, bool accumulate) {
  cuda::LaunchToHalf(x, half_.data(), n * in, stream_);
  gemm_->Run(half_.data(), w.data(), y, n, out, in, accumulate);
}

void CudaModelRunner::Attend(const BatchInputs& in, int64_t layer) {
  const ModelConfig& c = model_.config;
  StepTables& t = *tables_;
  XqBatchKv kv;
  kv.layout = layout_.data();
  kv.arena = storage_->arena();
  kv.num_seqs = in.num_seqs();
  kv.qo_indptr = t.qo_indptr.data();
  kv.kv_len = t.kv_len.data();
  kv.block_indptr = t.block_indptr.data();
  kv.block_ids = t.block_ids.data();
  kv.window_indptr = t.window_indptr.data();
  kv.window_pages = t.window_pages.data();
  kv.window_start = t.window_start.data();
  const int64_t n = in.num_tokens();
  cuda::LaunchWriteWindowRows(kv, n, layer, k_.data(), v_.data(), stream_);
  // Blocks leaving the window get this layer's codes and params (the layer below, whose codes
  // a sharing layer borrows, was written when it ran).
  cuda::LaunchQuantizeWindowBlocks(layout_.data(), kv.arena, layer, t.quantize_pages.data(),
                                   t.quantize_blocks.data(),
                                   static_cast<int64_t>(in.quantize_blocks.size()), stream_);
  XqBatchAttentionParams p;
  p.kv = kv;
  p.layer = layer;
  p.q = q_.data();
  p.num_heads = c.num_heads;
  p.recent_window = kv_.recent_window;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.out = attn_.data();
  cuda::LaunchXqAttention(p, n, c.head_dim, c.num_kv_heads, attention_split_,
                          attention_workspace_.data(), stream_);
}

void CudaModelRunner::Layer(const BatchInputs& in, int64_t layer) {
  const ModelConfig& c = model_.config;
  const DeviceLayerWeights& l = weights_.layers[layer];
  const int64_t n = in.num_tokens(), h = c.hidden_size, D = c.head_dim;
  const int64_t q_dim = c.num_heads * D, kv_dim = c.num_kv_heads * D, ff = c.intermediate_size;
  const float eps = c.rms_norm_eps;

  cuda::LaunchRmsNorm(x_.data(), l.attn_norm.data(), xn_.data(), n, h, eps, stream_);
  MatMul(xn_.data(), n, h, l.wq, q_dim, q_.data());
  MatMul(xn_.data(), n, h, l.wk, kv_dim, k_.data());
  MatMul(xn_.data(), n, h, l.wv, kv_dim, v_.data());
  if (!l.bq.empty()) cuda::LaunchBiasAdd(q_.data(), l.bq.data(), n, q_dim, stream_);
  if (!l.bk.empty()) cuda::LaunchBiasAdd(k_.data(), l.bk.data(), n, kv_dim, stream_);
  if (!l.bv.empty()) cuda::LaunchBiasAdd(v_.data(), l.bv.data(), n, kv_dim, stream_);
  const int32_t* positions = tables_->positions.data();
  for (auto [x, heads] : {std::pair{q_.data(), c.num_heads}, {k_.data(), c.num_kv_heads}}) {
    cuda::LaunchRope(x, positions, n, heads, D, rope_.theta_scale, rope_.freq_scale,
                     rope_divisors_.data(), stream_);
  }
  const KvLayerSpec& spec = kv_.layout.layers[layer];
  if (spec.k.rotated) {
    cuda::LaunchRotateHeads(q_.data(), n, c.num_heads, D, /*inverse=*/false, stream_);
    cuda::LaunchRotateHeads(k_.data(), n, c.num_kv_heads, D, /*inverse=*/false, stream_);
  }
  if (spec.v.rotated) cuda::LaunchRotateHeads(v_.data(), n, c.num_kv_heads, D, false, stream_);

  Attend(in, layer);
  if (spec.v.rotated) cuda::LaunchRotateHeads(attn_.data(), n, c.num_heads, D, true, stream_);
  MatMul(attn_.data(), n, q_dim, l.wo, h, x_.data(), /*accumulate=*/true);

  cuda::LaunchRmsNorm(x_.data(), l.ffn_norm.data(), xn_.data(), n, h, eps, stream_);
  MatMul(xn_.data(), n, h, l.w_gate, ff, gate_.data());
  MatMul(xn_.data(), n, h, l.w_up, ff, up_.data());
  cuda::LaunchSiluMul(gate_.data(), up_.data(), n * ff, stream_);
  MatMul(gate_.data(), n, ff, l.w_down, h, x_.data(), /*accumulate=*/true);
}

// Only the wanted rows: gathered (xn_), normed (into x_, no longer needed), projected.
void CudaModelRunner::Logits(const BatchInputs& in, std::vector<float>& logits) {
  const ModelConfig& c = model_.config;
  const int64_t rows = static_cast<int64_t>(in.logits_rows.size()), h = c.hidden_size;
  logits.resize(rows * c.vocab_size);
  sampled_tokens_.clear();
  sampled_logprobs_.clear();
  if (rows == 0) return;
  cuda::LaunchEmbedding(tables_->logits_rows.data(), rows, x_.data(), xn_.data(), h, stream_);
  cuda::LaunchRmsNorm(xn_.data(), weights_.output_norm.data(), x_.data(), rows, h, c.rms_norm_eps,
                      stream_);
  logits_.Reserve(logits.size());
  MatMul(x_.data(), rows, h, weights_.output, c.vocab_size, logits_.data());
  SampleRows(in);
  CopyRowsToHost(in, logits);
}

// The sampled rows' tokens, drawn from their edited rows on the device.
void CudaModelRunner::SampleRows(const BatchInputs& in) {
  const auto count = static_cast<int64_t>(in.sampled_rows.size());
  if (count == 0) return;
  StepTables& t = *tables_;
  const int64_t vocab = model_.config.vocab_size;
  const std::vector<int32_t> raw_slots = KeepRawRows(in);
  if (!in.allowed_tokens.empty()) {
    cuda::LaunchAllowedTokens(logits_.data(), vocab, t.sampled_rows.data(), count,
                              t.row_sampling.data(), t.allowed_tokens.data(), stream_);
  }
  if (!in.logit_edits.empty()) {
    cuda::LaunchLogitEdits(logits_.data(), vocab, t.sampled_rows.data(), count,
                           t.sampled_edit_indptr.data(), t.logit_edits.data(), stream_);
  }
  t.sampled_tokens.Reserve(count);
  cuda::LaunchSampleTokens(logits_.data(), vocab, t.sampled_rows.data(), t.row_sampling.data(),
                           count, t.sampled_tokens.data(), stream_);
  sampled_tokens_.resize(count);
  CheckCuda(cudaMemcpyAsync(sampled_tokens_.data(), t.sampled_tokens.data(),
                            count * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_),
            "copying sampled tokens to the host");
  ComputeLogprobs(in, raw_slots);
}

std::vector<int32_t> CudaModelRunner::KeepRawRows(const BatchInputs& in) {
  std::vector<int32_t> slots(in.sampled_rows.size(), -1);
  int32_t raw = 0;
  for (size_t b = 0; b < slots.size(); ++b) {
    const RowSampling& s = in.row_sampling[b];
    if (s.top_logprobs >= 0 && s.raw_logprobs) slots[b] = raw++;
  }
  if (raw == 0) return slots;
  const int64_t vocab = model_.config.vocab_size;
  raw_logits_.Reserve(static_cast<size_t>(raw * vocab));
  for (size_t b = 0; b < slots.size(); ++b) {
    if (slots[b] < 0) continue;
    CheckCuda(cudaMemcpyAsync(raw_logits_.data() + slots[b] * vocab,
                              logits_.data() + in.sampled_rows[b] * vocab, vocab * sizeof(float),
                              cudaMemcpyDeviceToDevice, stream_),
              "keeping a row's raw logits");
  }
  return slots;
}

void CudaModelRunner::ComputeLogprobs(const BatchInputs& in,
                                      const std::vector<int32_t>& raw_slots) {
  const auto wanted = [](const RowSampling& s) { return s.top_logprobs >= 0; };
  if (std::none_of(in.row_sampling.begin(), in.row_sampling.end(), wanted)) return;
  StepTables& t = *tables_;
  const auto count = static_cast<int64_t>(in.sampled_rows.size());
  t.raw_slots.Upload(raw_slots, stream_);
  t.row_logprobs.Reserve(count);
  cuda::LaunchTokenLogprobs(logits_.data(), model_.config.vocab_size, t.sampled_rows.data(),
                            raw_logits_.data(), t.raw_slots.data(), t.row_sampling.data(),
                            t.sampled_tokens.data(), count, t.row_logprobs.data(), stream_);
  sampled_logprobs_.resize(count);
  CheckCuda(cudaMemcpyAsync(sampled_logprobs_.data(), t.row_logprobs.data(),
                            count * sizeof(RowLogprobs), cudaMemcpyDeviceToHost, stream_),
            "copying logprobs to the host");
}

// Every row but the sampled ones, one copy per run of consecutive rows.
void CudaModelRunner::CopyRowsToHost(const BatchInputs& in, std::vector<float>& logits) {
  const int64_t rows = static_cast<int64_t>(in.logits_rows.size()),
                vocab = model_.config.vocab_size;
  int64_t start = 0;
  for (size_t i = 0; i <= in.sampled_rows.size(); ++i) {
    const int64_t end = i < in.sampled_rows.size() ? in.sampled_rows[i] : rows;
    if (end > start) {
      CheckCuda(
          cudaMemcpyAsync(logits.data() + start * vocab, logits_.data() + start * vocab,
                          (end - start) * vocab * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "copying logits to the host");
    }
    start = end + 1;
  }
}

void CudaModelRunner::Execute(const BatchInputs& batch, std::vector<float>& logits) {
  if (!storage_) throw Error("batch inputs: no KV storage allocated");
  ValidateBatchInputs(batch, model_.config, kv_);
  const int64_t n = batch.num_tokens();
  Reserve(n);
  UploadTables(batch);
  PlanAttention(batch);
  if (n > 0) {
    cuda::LaunchEmbedding(tables_->tokens.data(), n, weights_.token_embedding.data(), x_.data(),
                          model_.config.hidden_size, stream_);
    for (int64_t layer = 0; layer < model_.config.num_layers; ++layer) Layer(batch, layer);
  }
  Logits(batch, logits);
  CheckCuda(cudaGetLastError(), "launching the step's kernels");
  CheckCuda(cudaStreamSynchronize(stream_), "running the step");
}

}  // namespace xq
