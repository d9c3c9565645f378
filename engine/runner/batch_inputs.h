// BatchInputs: everything one engine step computes, as plain data built on the host before the
// step (vLLM's SchedulerOutput + attention metadata, FlashInfer's CSR batch params). The runner
// reads only this: never a scheduler or sequence object, and it allocates no KV block.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/include/logit_edit.h"
#include "kernels/include/row_sampling.h"

namespace xq {

struct BatchInputs {
  std::vector<int32_t> tokens;     // [T] the step's tokens, sequences back to back
  std::vector<int32_t> positions;  // [T] absolute positions (RoPE)

  // Per sequence s: its rows are [qo_indptr[s], qo_indptr[s + 1]) of tokens; they are
  // positions kv_len[s] - rows .. kv_len[s] - 1.
  std::vector<int64_t> qo_indptr;  // [S + 1]
  std::vector<int64_t> kv_len;     // [S] positions held once the step's tokens are in

  // KV: compressed blocks (block b of a sequence holds positions b*G..) and the fp16 window,
  // window_pages_per_block pages per window block from window_start[s] / G on. Every block the
  // step writes is already here: the new tokens' window rows and the blocks quantized below.
  std::vector<int64_t> block_indptr;   // [S + 1] into block_ids
  std::vector<int32_t> block_ids;      // compressed blocks
  std::vector<int64_t> window_indptr;  // [S + 1] into window_pages
  std::vector<int32_t> window_pages;   // window pages
  std::vector<int64_t> window_start;   // [S] first fp16 position

  // Window blocks that leave the window in this step, quantized into compressed blocks (job j:
  // pages [j * P, (j + 1) * P) -> quantize_blocks[j]).
  std::vector<int32_t> quantize_pages;
  std::vector<int32_t> quantize_blocks;

  std::vector<int64_t> logits_rows;  // rows of tokens whose next-token logits are wanted

  // Logits rows sampled where the logits are: entry i is row sampled_rows[i] of logits_rows
  // (increasing), whose token is drawn by row_sampling[i] (kernels/include/row_sampling.h) from
  // the row after its edits [sampled_edit_indptr[i], sampled_edit_indptr[i + 1]) of
  // logit_edits. A runner that SamplesRows returns only their tokens; others ignore these.
  std::vector<int64_t> sampled_rows;
  std::vector<int64_t> sampled_edit_indptr;  // [sampled_rows.size() + 1]
  std::vector<RowSampling> row_sampling;     // [sampled_rows.size()]
  std::vector<LogitEdit> logit_edits;
  std::vector<uint32_t> allowed_tokens;  // grammar bitmasks, RowSampling::allowed_tokens

  int64_t num_seqs() const { return static_cast<int64_t>(kv_len.size()); }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  void Clear();
};

inline void BatchInputs::Clear() {
  for (auto* v : {&qo_indptr, &kv_len, &block_indptr, &window_indptr, &window_start, &logits_rows,
                  &sampled_rows, &sampled_edit_indptr}) {
    v->clear();
  }
  for (auto* v :
       {&tokens, &positions, &block_ids, &window_pages, &quantize_pages, &quantize_blocks}) {
    v->clear();
  }
  logit_edits.clear();
  row_sampling.clear();
  allowed_tokens.clear();
  qo_indptr.push_back(0);
  block_indptr.push_back(0);
  window_indptr.push_back(0);
  sampled_edit_indptr.push_back(0);
}

}  // namespace xq
