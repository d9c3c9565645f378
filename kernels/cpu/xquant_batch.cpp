// The batched per-layer KV operations of one step on the CPU (kernels/include/xquant_batch.h):
// each loops over sequences (or jobs) and calls the single-sequence kernels.
#include "kernels/include/xquant_batch.h"

#include <algorithm>
#include <vector>

#include "kernels/include/thread_pool.h"
#include "kernels/include/xquant_kernels.h"

namespace xq {
namespace {

// One thread per sequence beats splitting each tiny attention once every chunk is this short
// (decode); longer chunks run one sequence at a time with the kernel parallel inside.
constexpr int64_t kMaxRowsPerThread = 16;

XqWindowView WindowOf(const XqBatchKv& kv, int64_t s) {
  return {kv.window_pages + kv.window_indptr[s], kv.window_start[s] / kv.layout->block_tokens};
}

// Layer `layer`'s G keys (or values) of window block w into dst [G, H * D], token-major.
void GatherWindowRows(const KvBlockLayout& L, XqWindowView w, int64_t layer, int is_value,
                      const uint8_t* arena, Fp16* dst) {
  const int64_t G = L.block_tokens, row = L.num_kv_heads * L.head_dim;
  for (int64_t t = 0; t < G;) {
    int64_t run;
    const int64_t at = WindowRowOffset(L, w, layer, is_value, t, &run);
    const int64_t count = std::min(run, G - t);
    std::copy_n(reinterpret_cast<const Fp16*>(arena + at), count * row, dst + t * row);
    t += count;
  }
}

}  // namespace

void XqWriteWindowRows(const XqBatchKv& kv, int64_t layer, const float* k, const float* v) {
  const KvBlockLayout& L = *kv.layout;
  const int64_t row = L.num_kv_heads * L.head_dim;
  for (int64_t s = 0; s < kv.num_seqs; ++s) {
    const int64_t first = kv.qo_indptr[s], rows = kv.qo_indptr[s + 1] - first;
    const XqWindowView w = WindowOf(kv, s);
    auto write_row = [&](int64_t i) {
      const int64_t pos = kv.kv_len[s] - rows + i;
      for (int is_value = 0; is_value < 2; ++is_value) {
        int64_t run;
        const int64_t offset = WindowRowOffset(L, w, layer, is_value, pos, &run);
        auto* dst = reinterpret_cast<_Float16*>(kv.arena + offset);
        const float* src = (is_value ? v : k) + (first + i) * row;
        for (int64_t e = 0; e < row; ++e) dst[e] = static_cast<_Float16>(src[e]);
      }
    };
    ComputePool().ParallelFor(rows, Schedule::kStatic, write_row, rows > 64);
  }
}

void XqQuantizeWindowBlocks(const XqBatchKv& kv, int64_t layer, const XqQuantizeJobs& jobs) {
  const KvBlockLayout& L = *kv.layout;
  const int64_t G = L.block_tokens, row = L.num_kv_heads * L.head_dim;
  const int64_t P = L.window_pages_per_block;
  ComputePool().ParallelFor(jobs.count, Schedule::kStatic, [&](int64_t j) {
    // The block's G rows of this layer, gathered token-major as the quantizer reads them.
    thread_local std::vector<Fp16> k, v;
    k.resize(G * row);
    v.resize(G * row);
    const XqWindowView w{jobs.pages + j * P, 0};
    GatherWindowRows(L, w, layer, 0, kv.arena, k.data());
    GatherWindowRows(L, w, layer, 1, kv.arena, v.data());
    XqQuantizeBlockLayer(L, layer, k.data(), v.data(),
                         kv.arena + static_cast<int64_t>(jobs.blocks[j]) * L.block_bytes);
  });
}

void XqBatchAttention(const XqBatchAttentionParams& p) {
  const XqBatchKv& kv = p.kv;
  const int64_t D = kv.layout->head_dim;
  int64_t longest = 0;
  for (int64_t s = 0; s < kv.num_seqs; ++s) {
    longest = std::max(longest, kv.qo_indptr[s + 1] - kv.qo_indptr[s]);
  }
  const bool across_sequences = kv.num_seqs > 1 && longest <= kMaxRowsPerThread;
  auto attend = [&](int64_t s) {
    const int64_t first = kv.qo_indptr[s], rows = kv.qo_indptr[s + 1] - first;
    if (rows == 0) return;
    XqAttentionParams a;
    a.layout = kv.layout;
    a.layer = p.layer;
    a.arena = kv.arena;
    a.block_table = kv.block_ids + kv.block_indptr[s];
    a.num_blocks = kv.block_indptr[s + 1] - kv.block_indptr[s];
    a.window_pages = kv.window_pages + kv.window_indptr[s];
    a.window_start = kv.window_start[s];
    a.window_len = kv.kv_len[s] - kv.window_start[s];
    a.q = p.q + first * p.num_heads * D;
    a.n = rows;
    a.num_heads = p.num_heads;
    a.recent_window = p.recent_window;
    a.scale = p.scale;
    a.out = p.out + first * p.num_heads * D;
    XqAttention(a);
  };
  ComputePool().ParallelFor(kv.num_seqs, Schedule::kDynamic, attend, across_sequences);
}

}  // namespace xq
