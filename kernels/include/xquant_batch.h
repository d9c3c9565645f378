// The per-layer KV operations of one engine step over a whole batch of sequences, in the CSR
// form FlashInfer's batch params use: write the new tokens' fp16 keys/values into their window
// pages, quantize the window blocks that leave the window into compressed blocks, and attend.
// Every block id (compressed block or window page) addresses arena + id * layout->block_bytes.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"
#include "kernels/include/xquant_format.h"

namespace xq {

// Where each sequence of the batch keeps its KV; shared by the three operations.
struct XqBatchKv {
  const KvBlockLayout* layout = nullptr;
  uint8_t* arena = nullptr;
  int64_t num_seqs = 0;
  const int64_t* qo_indptr = nullptr;      // [num_seqs + 1] the step's rows of each sequence
  const int64_t* kv_len = nullptr;         // [num_seqs] positions held once the step's are in
  const int64_t* block_indptr = nullptr;   // [num_seqs + 1] into block_ids
  const int32_t* block_ids = nullptr;      // compressed blocks, block b holds positions b*G..
  const int64_t* window_indptr = nullptr;  // [num_seqs + 1] into window_pages
  const int32_t* window_pages = nullptr;   // window_pages_per_block pages per window block
  const int64_t* window_start = nullptr;   // [num_seqs] first fp16 position (a multiple of G)
};

// Stores layer `layer`'s keys and values of the step's tokens (positions kv_len - rows ..
// kv_len - 1 of each sequence) in the window pages, rounded to fp16.
//   k, v: [qo_indptr[num_seqs], H * D]
void XqWriteWindowRows(const XqBatchKv& kv, int64_t layer, const float* k, const float* v);

// Window blocks that leave the window in this step: job j quantizes the window block in pages
// [j * P, (j + 1) * P) into compressed block blocks[j], layer `layer`'s sections only.
struct XqQuantizeJobs {
  int64_t count = 0;
  const int32_t* pages = nullptr;   // [count * window_pages_per_block]
  const int32_t* blocks = nullptr;  // [count]
};
void XqQuantizeWindowBlocks(const XqBatchKv& kv, int64_t layer, const XqQuantizeJobs& jobs);

struct XqBatchAttentionParams {
  XqBatchKv kv;
  int64_t layer = 0;
  const float* q = nullptr;  // [rows, num_heads * D], RoPE applied; rows = qo_indptr[num_seqs]
  int64_t num_heads = 0;
  int64_t recent_window = 0;
  float scale = 0.0f;
  float* out = nullptr;  // [rows, num_heads * D]
};
// Causal attention of every sequence's step rows over its blocks and window, as XqAttention
// does for one sequence (xquant_kernels.h). CPU: sequences in parallel when all chunks are short
// (decode), else one at a time with each parallel inside.
void XqBatchAttention(const XqBatchAttentionParams& p);

}  // namespace xq
