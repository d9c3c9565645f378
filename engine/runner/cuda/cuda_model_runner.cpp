#include "engine/runner/cuda/cuda_model_runner.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/model/ggml_types.h"
#include "engine/runner/batch_validation.h"
#include "engine/runner/cuda/graph_batch.h"
#include "kernels/cuda/ops.h"
#include "kernels/include/ggml_blocks.h"

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

// The step's BatchInputs tables on the device, sent in one transfer (positions and logits rows
// as int32, as the kernels index them), and what the sampling kernels write.
struct CudaModelRunner::StepTables {
  explicit StepTables(cudaStream_t stream) : arena(stream) {}
  StepTableArena arena;  // first: the tables below live in it
  StepTable<int32_t> tokens{arena}, positions{arena}, block_ids{arena}, window_pages{arena},
      quantize_pages{arena}, quantize_blocks{arena}, logits_rows{arena}, raw_slots{arena},
      attention_tiles{arena}, attention_rows{arena};  // the last two: cuda::AttentionTilePlan
  StepTable<int64_t> qo_indptr{arena}, kv_len{arena}, block_indptr{arena}, window_indptr{arena},
      window_start{arena}, sampled_rows{arena}, sampled_edit_indptr{arena};
  StepTable<LogitEdit> logit_edits{arena};
  StepTable<RowSampling> row_sampling{arena};
  StepTable<uint32_t> allowed_tokens{arena};
  // Host tables staged for the transfer, kept until it.
  std::vector<int32_t> logits_rows_host;
  std::vector<int64_t> sampled_rows_host;
  cuda::AttentionTilePlan tiles_host;
  // Written by the sampling kernels.
  DeviceBuffer<int32_t> sampled_tokens;
  DeviceBuffer<RowLogprobs> row_logprobs;
};

namespace {

int64_t LongestKv(const BatchInputs& in) {
  return in.kv_len.empty() ? 0 : *std::max_element(in.kv_len.begin(), in.kv_len.end());
}

bool WantsLogprobs(const BatchInputs& in) {
  return std::any_of(in.row_sampling.begin(), in.row_sampling.end(),
                     [](const RowSampling& s) { return s.top_logprobs >= 0; });
}

}  // namespace

CudaModelRunner::CudaModelRunner(const Model& model, CudaRunnerOptions options)
    : model_(model), options_(options) {
  if (model.config.head_dim > cuda::kMaxAttentionHeadDim) {
    throw Error(model.source + ": head_dim " + std::to_string(model.config.head_dim) +
                " is above the CUDA attention kernel's " +
                std::to_string(cuda::kMaxAttentionHeadDim));
  }
  CheckCuda(cudaSetDevice(0), "selecting device 0");
  // Non-blocking: work on the legacy default stream elsewhere in the process neither waits for
  // ours nor joins (and so breaks) a graph capture on it.
  CheckCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  tables_ = std::make_unique<StepTables>(stream_);
  gemm_ = std::make_unique<cuda::Gemm>(stream_);
  rope_ = MakeRopeTable(model);
  rope_divisors_.Upload(rope_.freq_divisors, stream_);
  weights_ = UploadWeights(model, stream_, options_.keep_quantized_weights,
                           options_.dequantize_slice_elements);
}

CudaModelRunner::~CudaModelRunner() {
  cudaStreamSynchronize(stream_);
  graphs_.Clear();
  gemm_.reset();
  cudaStreamDestroy(stream_);
}

void CudaModelRunner::AllocateKv(const KvConfig& config) {
  ValidateKvConfig(config, model_.config);
  storage_.reset();
  graphs_.Clear();
  // One window block past the host's blocks: what a graph's padding rows write and read.
  const auto scratch = static_cast<int32_t>(config.layout.window_pages_per_block);
  storage_ = std::make_unique<DeviceKvStorage>(config.layout.block_bytes, config.num_blocks,
                                               scratch, stream_);
  scratch_pages_.clear();
  for (int32_t i = 0; i < scratch; ++i) scratch_pages_.push_back(storage_->spare_block(i));
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

// Stages the batch's tables for the step's transfer (PrepareStep sends them).
void CudaModelRunner::StageTables(const BatchInputs& in) {
  StepTables& t = *tables_;
  auto up = [](auto& dst, const auto& host) { dst.Stage(host); };
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
  t.logits_rows_host.assign(in.logits_rows.begin(), in.logits_rows.end());
  up(t.logits_rows, t.logits_rows_host);
  // Relative to their chunk of logits rows (Logits).
  t.sampled_rows_host = in.sampled_rows;
  for (int64_t& r : t.sampled_rows_host) r %= options_.logits_chunk_rows;
  up(t.sampled_rows, t.sampled_rows_host);
  up(t.sampled_edit_indptr, in.sampled_edit_indptr);
  up(t.logit_edits, in.logit_edits);
  up(t.row_sampling, in.row_sampling);
  up(t.allowed_tokens, in.allowed_tokens);
}

// fp16 matrices go to cuBLAS. Quantized ones: a few rows straight from the blocks (decode of a
// few sequences), a decode batch's worth on tensor cores from blocks decoded into shared memory,
// and more (prefill chunks) slice by slice of output features dequantized into the scratch,
// each slice a GEMM into its columns of y.
void CudaModelRunner::MatMul(const float* x, int64_t n, int64_t in, const DeviceMatrix& w,
                             int64_t out, float* y, bool accumulate) {
  cuda::LaunchToHalf(x, half_.data(), n * in, stream_);
  if (!w.quantized()) {
    gemm_->Run(half_.data(), w.half.data(), y, n, out, in, accumulate);
  } else if (n <= cuda::kQGemvMaxRows) {
    cuda::LaunchQGemv(w.type, w.blocks.data(), out, in, half_.data(), n, y, accumulate, stream_);
  } else if (n <= cuda::kQMmaMaxRows) {
    cuda::LaunchQMmaGemm(w.type, w.blocks.data(), out, in, half_.data(), n, y, accumulate, stream_,
                         weights_.split_partials.data(),
                         static_cast<int64_t>(weights_.split_partials.bytes() / sizeof(float)));
  } else {
    const int64_t slice = weights_.SliceRows(w);
    const GgmlTypeInfo& info = *FindGgmlType(static_cast<uint32_t>(w.type));
    const int64_t row_bytes = in / info.block_elems * info.block_bytes;
    uint16_t* scratch = weights_.dequantize_scratch.data();
    for (int64_t first = 0; first < out; first += slice) {
      const int64_t rows = std::min(slice, out - first);
      cuda::LaunchDequantizeToHalf(w.type, w.blocks.data() + first * row_bytes, rows, in, scratch,
                                   stream_);
      gemm_->Run(half_.data(), scratch, y + first, n, rows, in, accumulate, /*y_stride=*/out);
    }
  }
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
                          attention_workspace_.data(), stream_, attention_tiles_);
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

// Only the wanted rows, at most logits_chunk_rows at a time (a 2K-token prompt scored for its
// logprobs needs no 2K rows of logits on the device): gathered and normed (xn_), projected,
// their sampled entries drawn and scored, the rest copied to the host before the next chunk.
void CudaModelRunner::Logits(const BatchInputs& in, float* host_logits) {
  const ModelConfig& c = model_.config;
  const int64_t rows = static_cast<int64_t>(in.logits_rows.size()), h = c.hidden_size;
  const int64_t chunk = options_.logits_chunk_rows;
  size_t b0 = 0;  // the chunk's first sampled entry
  for (int64_t first = 0; first < rows; first += chunk) {
    const int64_t count = std::min(chunk, rows - first);
    cuda::LaunchEmbedding(tables_->logits_rows.data() + first, count, x_.data(), xn_.data(), h,
                          stream_);
    cuda::LaunchRmsNorm(xn_.data(), weights_.output_norm.data(), xn_.data(), count, h,
                        c.rms_norm_eps, stream_);
    MatMul(xn_.data(), count, h, weights_.output, c.vocab_size, logits_.data());
    size_t b1 = b0;
    while (b1 < in.sampled_rows.size() && in.sampled_rows[b1] < first + count) ++b1;
    SampleRows(in, first, b0, b1);
    CopyRowsToHost(in, first, count, b0, b1, host_logits);
    b0 = b1;
  }
}

// Sampled entries [b0, b1) of the chunk starting at row `first`: tokens drawn from their edited
// rows, and their logprobs. The device's sampled_rows are relative to their chunk.
void CudaModelRunner::SampleRows(const BatchInputs& in, int64_t first, size_t b0, size_t b1) {
  const auto count = static_cast<int64_t>(b1 - b0);
  if (count == 0) return;
  StepTables& t = *tables_;
  const int64_t vocab = model_.config.vocab_size;
  const int64_t* rows = t.sampled_rows.data() + b0;
  const RowSampling* params = t.row_sampling.data() + b0;
  KeepRawRows(in, first, b0, b1);
  if (!in.allowed_tokens.empty()) {
    cuda::LaunchAllowedTokens(logits_.data(), vocab, rows, count, params, t.allowed_tokens.data(),
                              stream_);
  }
  if (!in.logit_edits.empty()) {
    cuda::LaunchLogitEdits(logits_.data(), vocab, rows, count, t.sampled_edit_indptr.data() + b0,
                           t.logit_edits.data(), stream_);
  }
  cuda::LaunchSampleTokens(logits_.data(), vocab, rows, params, count, t.sampled_tokens.data() + b0,
                           stream_);
  if (WantsLogprobs(in)) {
    cuda::LaunchTokenLogprobs(logits_.data(), vocab, rows, raw_logits_.data(),
                              t.raw_slots.data() + b0, params, t.sampled_tokens.data() + b0, count,
                              t.row_logprobs.data() + b0, stream_);
  }
}

// The chunk's rows whose raw logprobs need a copy before their mask or edits (eager steps).
void CudaModelRunner::KeepRawRows(const BatchInputs& in, int64_t first, size_t b0, size_t b1) {
  const int64_t vocab = model_.config.vocab_size;
  for (size_t b = b0; b < b1; ++b) {
    if (raw_slots_[b] < 0) continue;
    CheckCuda(cudaMemcpyAsync(raw_logits_.data() + raw_slots_[b] * vocab,
                              logits_.data() + (in.sampled_rows[b] - first) * vocab,
                              vocab * sizeof(float), cudaMemcpyDeviceToDevice, stream_),
              "keeping a row's raw logits");
  }
}

// The chunk's rows that were not sampled, one copy per run of consecutive rows (eager steps:
// a graph's rows are all sampled).
void CudaModelRunner::CopyRowsToHost(const BatchInputs& in, int64_t first, int64_t count, size_t b0,
                                     size_t b1, float* host_logits) {
  const int64_t vocab = model_.config.vocab_size;
  int64_t start = first;
  for (size_t b = b0; b <= b1; ++b) {
    const int64_t end = b < b1 ? in.sampled_rows[b] : first + count;
    if (end > start) {
      CheckCuda(
          cudaMemcpyAsync(host_logits + start * vocab, logits_.data() + (start - first) * vocab,
                          (end - start) * vocab * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "copying logits to the host");
    }
    start = end + 1;
  }
}

void CudaModelRunner::ReserveSampling(const BatchInputs& in) {
  const auto count = static_cast<int64_t>(in.sampled_rows.size());
  StepTables& t = *tables_;
  t.sampled_tokens.Reserve(count);
  raw_slots_.assign(in.sampled_rows.size(), -1);
  int32_t raw = 0;
  for (size_t b = 0; b < raw_slots_.size(); ++b) {
    if (NeedsRawCopy(in, b)) raw_slots_[b] = raw++;
  }
  raw_logits_.Reserve(static_cast<size_t>(raw * model_.config.vocab_size));
  t.raw_slots.Stage(raw_slots_);
  t.row_logprobs.Reserve(count);
}

// Prefill chunks' rows in tiles that share their keys and values (decode steps have none, so
// graphs never read these tables). Staged here; attention_tiles_ points at them once sent.
void CudaModelRunner::PlanTiles(const BatchInputs& in) {
  const ModelConfig& c = model_.config;
  StepTables& t = *tables_;
  t.tiles_host = cuda::PlanAttentionTiles(
      in.qo_indptr, in.kv_len, c.num_heads, c.num_kv_heads, c.head_dim, kv_.recent_window,
      kv_.layout.block_tokens,
      options_.tensor_core_prefill ? cuda::TileKernel::kTensorCores : cuda::TileKernel::kCudaCores);
  if (t.tiles_host.tiles.empty()) return;
  t.attention_tiles.Stage(t.tiles_host.tiles);
  t.attention_rows.Stage(t.tiles_host.rows);
}

void CudaModelRunner::PrepareStep(const BatchInputs& in, int64_t graph_bucket) {
  const ModelConfig& c = model_.config;
  const int64_t n = in.num_tokens();
  Reserve(n);
  StageTables(in);
  // Every layer attends over the same sequences: one tiling, split plan and workspace per step.
  // The split fills the GPU with the CUDA blocks there are: a tile or a lone row each (eager), or
  // the graph's frozen plan for its context-length class.
  PlanTiles(in);
  const cuda::AttentionTilePlan& tiles = tables_->tiles_host;
  const auto tile_count = static_cast<int64_t>(tiles.tiles.size() / 2);
  const int64_t longest = LongestKv(in);
  const int64_t units = tile_count > 0 ? tile_count + static_cast<int64_t>(tiles.rows.size()) : n;
  attention_split_ = graph_bucket > 0 ? GraphAttentionSplit(graph_bucket, c.num_kv_heads, longest)
                                      : cuda::PlanAttentionSplit(units, c.num_kv_heads, longest);
  attention_workspace_.Reserve(static_cast<size_t>(
      cuda::AttentionWorkspaceFloats(n, c.num_heads, c.head_dim, attention_split_)));
  const int64_t logits_rows = static_cast<int64_t>(in.logits_rows.size());
  logits_.Reserve(
      static_cast<size_t>(std::min(logits_rows, options_.logits_chunk_rows) * c.vocab_size));
  ReserveSampling(in);
  StepTables& t = *tables_;
  t.arena.Upload();  // every table in one transfer; their addresses are final from here
  attention_tiles_ = {};
  if (tile_count > 0) {
    attention_tiles_ = {t.attention_tiles.data(), tile_count, t.attention_rows.data(),
                        static_cast<int64_t>(tiles.rows.size()), tiles.kernel};
  }
}

void CudaModelRunner::Forward(const BatchInputs& in, float* host_logits) {
  const int64_t n = in.num_tokens();
  if (n > 0) {
    const int64_t h = model_.config.hidden_size;
    if (const DeviceMatrix* e = weights_.EmbeddingBlocks()) {
      cuda::LaunchQEmbedding(e->type, tables_->tokens.data(), n, e->blocks.data(), x_.data(), h,
                             stream_);
    } else {
      cuda::LaunchEmbedding(tables_->tokens.data(), n, weights_.token_embedding.data(), x_.data(),
                            h, stream_);
    }
    for (int64_t layer = 0; layer < model_.config.num_layers; ++layer) Layer(in, layer);
  }
  Logits(in, host_logits);
}

std::vector<const void*> CudaModelRunner::StepAddresses() const {
  const StepTables& t = *tables_;
  return {t.tokens.data(),
          t.positions.data(),
          t.block_ids.data(),
          t.window_pages.data(),
          t.quantize_pages.data(),
          t.quantize_blocks.data(),
          t.logits_rows.data(),
          t.sampled_tokens.data(),
          t.raw_slots.data(),
          t.qo_indptr.data(),
          t.kv_len.data(),
          t.block_indptr.data(),
          t.window_indptr.data(),
          t.window_start.data(),
          t.sampled_rows.data(),
          t.sampled_edit_indptr.data(),
          t.logit_edits.data(),
          t.row_sampling.data(),
          t.row_logprobs.data(),
          t.allowed_tokens.data(),
          x_.data(),
          xn_.data(),
          q_.data(),
          k_.data(),
          v_.data(),
          attn_.data(),
          gate_.data(),
          up_.data(),
          logits_.data(),
          half_.data(),
          attention_workspace_.data(),
          raw_logits_.data(),
          storage_->arena(),
          layout_.data()};
}

void CudaModelRunner::RunGraph(const BatchInputs& padded, float* host_logits) {
  const DecodeGraphKey key{padded.num_seqs(),           attention_split_.split_tokens,
                           attention_split_.splits,     !padded.allowed_tokens.empty(),
                           !padded.logit_edits.empty(), WantsLogprobs(padded)};
  graphs_.Run(key, StepAddresses(), stream_, [&] { Forward(padded, host_logits); });
}

void CudaModelRunner::CopyResults(const BatchInputs& batch) {
  const auto count = static_cast<int64_t>(batch.sampled_rows.size());
  sampled_tokens_.resize(count);
  if (count > 0) {
    CheckCuda(cudaMemcpyAsync(sampled_tokens_.data(), tables_->sampled_tokens.data(),
                              count * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_),
              "copying sampled tokens to the host");
  }
  sampled_logprobs_.clear();
  if (count > 0 && WantsLogprobs(batch)) {
    sampled_logprobs_.resize(count);
    CheckCuda(cudaMemcpyAsync(sampled_logprobs_.data(), tables_->row_logprobs.data(),
                              count * sizeof(RowLogprobs), cudaMemcpyDeviceToHost, stream_),
              "copying logprobs to the host");
  }
}

void CudaModelRunner::Execute(const BatchInputs& batch, std::vector<float>& logits) {
  if (!storage_) throw Error("batch inputs: no KV storage allocated");
  ValidateBatchInputs(batch, model_.config, kv_);
  logits.resize(batch.logits_rows.size() * static_cast<size_t>(model_.config.vocab_size));
  const int64_t bucket = options_.graphs && graphs_.enabled() ? GraphBucket(batch) : 0;
  if (bucket > 0) {
    const BatchInputs& padded = PadToBucket(batch, bucket, scratch_pages_, padded_);
    // The graph's split must cover its sequences as they grow: planned for their length class.
    PrepareStep(padded, bucket);
    RunGraph(padded, logits.data());
  } else {
    PrepareStep(batch, 0);
    Forward(batch, logits.data());
    graphs_.RecordEagerStep();
  }
  CopyResults(batch);
  CheckCuda(cudaGetLastError(), "launching the step's kernels");
  CheckCuda(cudaStreamSynchronize(stream_), "running the step");
}

}  // namespace xq
