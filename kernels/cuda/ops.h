// Host launchers of the CUDA kernels (kernels/cuda/*.cu), one per op, on a stream. Every
// pointer is device memory.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_runtime.h"
#include "kernels/include/ggml_type.h"
#include "kernels/include/logit_edit.h"
#include "kernels/include/row_logprobs.h"
#include "kernels/include/row_sampling.h"
#include "kernels/include/xquant_batch.h"
#include "kernels/include/xquant_format.h"

namespace xq::cuda {

// The attention kernel keeps a query and an accumulator per thread in registers.
inline constexpr int64_t kMaxAttentionHeadDim = 256;

//   x, out: [rows, dim]; weight: [dim]
void LaunchRmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim,
                   float eps, cudaStream_t stream);
//   gate, up: [n]; gate <- silu(gate) * up
void LaunchSiluMul(float* gate, const float* up, int64_t n, cudaStream_t stream);
//   x, delta: [n]; x <- x + delta
void LaunchResidualAdd(float* x, const float* delta, int64_t n, cudaStream_t stream);
//   x: [rows, heads * head_dim] in place; positions: [rows]; freq_divisors: [head_dim / 2]
void LaunchRope(float* x, const int32_t* positions, int64_t rows, int64_t heads, int64_t head_dim,
                float theta_scale, float freq_scale, const float* freq_divisors,
                cudaStream_t stream);
//   x: [rows, heads * head_dim] in place, into the KV rotation's basis or back (inverse)
void LaunchRotateHeads(float* x, int64_t rows, int64_t heads, int64_t head_dim, bool inverse,
                       cudaStream_t stream);
// XqQuantizeJobs on the device: job j turns the window block in pages[j * P, (j + 1) * P) into
// compressed block blocks[j], layer `layer` only (layout: a device copy); a job with block -1
// is padding and skipped.
void LaunchQuantizeWindowBlocks(const KvBlockLayout* layout, uint8_t* arena, int64_t layer,
                                const int32_t* pages, const int32_t* blocks, int64_t jobs,
                                cudaStream_t stream);
// How attention splits each row's positions into chunks of split_tokens (at most `splits`), so
// that rows x KV heads x splits CUDA blocks keep a GPU busy even for one long decode row.
struct AttentionSplit {
  int64_t split_tokens = 1;
  int64_t splits = 1;
};
AttentionSplit PlanAttentionSplit(int64_t rows, int64_t num_kv_heads, int64_t max_kv_len);
// Floats of the scratch LaunchXqAttention needs (partial results of every split).
int64_t AttentionWorkspaceFloats(int64_t rows, int64_t num_heads, int64_t head_dim,
                                 const AttentionSplit& split);
// Prefill chunks' query rows in tiles, so that a tile's rows share each key and value they read
// (planned on the host from the step's qo_indptr and kv_len): tiles holds (first row, rows)
// pairs, each tile consecutive rows of one sequence with one quantized frontier; rows lists the
// rows in no tile (decode rows, lone rows). No tiles when a tile could not hold two rows' query
// heads, or head_dim is past the tile kernels' (128).
// Two tile kernels: on CUDA cores (16 (row, query head) pairs a tile; a row's result bitwise
// the row kernel's) and on tensor cores (64 pairs; fp16 products, see xquant_attention_mma.cuh).
enum class TileKernel { kCudaCores, kTensorCores };
struct AttentionTilePlan {
  std::vector<int32_t> tiles;
  std::vector<int32_t> rows;
  TileKernel kernel = TileKernel::kCudaCores;
};
AttentionTilePlan PlanAttentionTiles(const std::vector<int64_t>& qo_indptr,
                                     const std::vector<int64_t>& kv_len, int64_t num_heads,
                                     int64_t num_kv_heads, int64_t head_dim, int64_t recent_window,
                                     int64_t block_tokens,
                                     TileKernel kernel = TileKernel::kCudaCores);
// A plan's device copies; the default (no tiles) runs every row alone.
struct AttentionTiles {
  const int32_t* tiles = nullptr;
  int64_t count = 0;
  const int32_t* rows = nullptr;
  int64_t row_count = 0;
  TileKernel kernel = TileKernel::kCudaCores;
};
// XqBatchAttention on the device (every pointer in p device memory, so the host passes the
// batch's rows, head_dim (at most kMaxAttentionHeadDim) and KV heads); split must cover the
// longest sequence of the batch; workspace holds AttentionWorkspaceFloats.
void LaunchXqAttention(const XqBatchAttentionParams& p, int64_t rows, int64_t head_dim,
                       int64_t num_kv_heads, const AttentionSplit& split, float* workspace,
                       cudaStream_t stream, const AttentionTiles& tiles = {});
//   x: [rows, n] += bias: [n] broadcast over rows
void LaunchBiasAdd(float* x, const float* bias, int64_t rows, int64_t n, cudaStream_t stream);
//   x: [n] fp32 -> out: [n] fp16 bits (the GEMMs' inputs)
void LaunchToHalf(const float* x, uint16_t* out, int64_t n, cudaStream_t stream);
// A synthetic model's values: out[i] = scale * SyntheticNoise(seed, stream, i), i < n, as fp32
// or as fp16 bits (kernels/include/synthetic_noise.h).
void LaunchSyntheticFill(float* out, int64_t n, uint64_t seed, uint64_t stream, float scale,
                         cudaStream_t cuda_stream);
void LaunchSyntheticFill(uint16_t* out, int64_t n, uint64_t seed, uint64_t stream, float scale,
                         cudaStream_t cuda_stream);
// Matrices kept in GGML blocks of a type the device decodes (qweight_blocks.cuh: Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K): w is [out, in] in blocks, in a multiple of the block's
// values; another type throws std::invalid_argument. A few rows at once straight from the blocks:
inline constexpr bool DeviceDecodes(GgmlType t) {
  return t == GgmlType::kQ4_0 || t == GgmlType::kQ4_1 || t == GgmlType::kQ5_0 ||
         t == GgmlType::kQ5_1 || t == GgmlType::kQ8_0 || t == GgmlType::kQ4_K ||
         t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
}
//   y: [rows, out] (+)= x: [rows, in] fp16 bits * w^T, rows <= kQGemvMaxRows, x 16-byte aligned
inline constexpr int64_t kQGemvMaxRows = 8;
void LaunchQGemv(GgmlType type, const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                 int64_t rows, float* y, bool accumulate, cudaStream_t stream);
// Many rows on tensor cores, each stage of the blocks decoded once into shared memory for 64
// rows (the products of the dequantize-then-GEMM path without the fp16 copy):
//   y: [rows, out] (+)= x: [rows, in] fp16 bits * w^T (x 16-byte aligned)
// The runner takes it up to kQMmaMaxRows (decode batches); past that, dequantizing slices for
// cuBLAS amortizes over enough rows.
inline constexpr int64_t kQMmaMaxRows = 256;
// A product whose 64 x 64 tiles are fewer than kQMmaTargetBlocks splits its inputs over up to
// kQMmaMaxSplits CUDA blocks per tile, their partial sums added in split order by a second kernel:
// QMmaSplits(rows, out, in) of them (QMmaPartialFloats of workspace), or `splits` when positive
// (tests, benchmarks). Without room in the workspace for the partial sums, one split. The target
// is one resident wave of the GPUs we aim at (132 SMs x 4 blocks of 128 threads at up to 128
// registers), a guess until cuda_qgemm_bench measures it.
inline constexpr int64_t kQMmaTargetBlocks = 4 * 132;
inline constexpr int64_t kQMmaMaxSplits = 16;
int QMmaSplits(int64_t rows, int64_t out, int64_t in);
// The partial sums QMmaSplits' splits write (0 for one split): at most
// 2 kQMmaTargetBlocks x 64 x 64 floats, since splits < kQMmaTargetBlocks / tiles + 1.
int64_t QMmaPartialFloats(int64_t rows, int64_t out, int64_t in);
void LaunchQMmaGemm(GgmlType type, const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                    int64_t rows, float* y, bool accumulate, cudaStream_t stream,
                    float* workspace = nullptr, int64_t workspace_floats = 0, int splits = 0);
// Or rows [0, rows) of w (the pointer at the first) as fp16 for a GEMM: out [rows, in].
void LaunchDequantizeToHalf(GgmlType type, const uint8_t* w, int64_t rows, int64_t in,
                            uint16_t* out, cudaStream_t stream);
// XqWriteWindowRows on the device: the step's `rows` new K/V rows of layer `layer` into their
// window pages (every pointer of kv device memory).
//   k, v: [rows, H * D]
void LaunchWriteWindowRows(const XqBatchKv& kv, int64_t rows, int64_t layer, const float* k,
                           const float* v, cudaStream_t stream);
// Gathers rows: out[i] = table[tokens[i]] (the token embedding, and the rows whose logits are
// wanted).
//   tokens: [count]; table: [vocab, hidden]; out: [count, hidden]
void LaunchEmbedding(const int32_t* tokens, int64_t count, const float* table, float* out,
                     int64_t hidden, cudaStream_t stream);
// The same from a table kept in GGML blocks ([vocab, hidden] in blocks of `type`), decoded to fp32.
void LaunchQEmbedding(GgmlType type, const int32_t* tokens, int64_t count, const uint8_t* table,
                      float* out, int64_t hidden, cudaStream_t stream);

// Sampling on the device (only a token per row crosses to the host). Entry b of `count` is
// logits row rows[b]: LaunchLogitEdits applies its edits [edit_indptr[b], edit_indptr[b + 1]) in
// place; LaunchSampleTokens then draws its token by params[b] (kernels/include/row_sampling.h)
// into tokens[b].
//   logits: [*, vocab]; rows: [count]; edit_indptr: [count + 1]; params, tokens: [count]
// First of all, LaunchAllowedTokens masks each entry's disallowed tokens when params[b] names a
// grammar bitmask of `allowed` (kernels/include/row_sampling.h).
void LaunchAllowedTokens(float* logits, int64_t vocab, const int64_t* rows, int64_t count,
                         const RowSampling* params, const uint32_t* allowed, cudaStream_t stream);
void LaunchLogitEdits(float* logits, int64_t vocab, const int64_t* rows, int64_t count,
                      const int64_t* edit_indptr, const LogitEdit* edits, cudaStream_t stream);
void LaunchSampleTokens(const float* logits, int64_t vocab, const int64_t* rows,
                        const RowSampling* params, int64_t count, int32_t* tokens,
                        cudaStream_t stream);
// Then, for entries whose params[b].top_logprobs >= 0, their RowLogprobs (out[b]) of the sampled
// tokens[b]: from the edited row, or with params[b].raw_logprobs from raw row raw_slots[b] (the
// row copied before its edits; -1 when it had none: the row itself).
//   raw: [*, vocab]; raw_slots, out: [count]
void LaunchTokenLogprobs(const float* logits, int64_t vocab, const int64_t* rows, const float* raw,
                         const int32_t* raw_slots, const RowSampling* params, const int32_t* tokens,
                         int64_t count, RowLogprobs* out, cudaStream_t stream);

}  // namespace xq::cuda
