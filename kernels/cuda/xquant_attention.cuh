// Attention over XQuant blocks and the fp16 window on the device, reading the packed codes
// directly (kernels/include/xquant_batch.h gives the batch; XqAttentionReference the semantics).
// Split-KV with GQA sharing, in two kernels:
//   1. XqAttentionPartialKernel: one CUDA block per (query row, KV head, split of the row's
//      positions). Each warp takes one position at a time; a lane holds D/32 channels, so a key
//      or value is loaded once (coalesced along channels) for all the query heads that share the
//      KV head. Softmax is online (running max and sum per head); the warps' partials are
//      combined through shared memory into one (max, sum, weighted values) per head and split.
//   2. XqAttentionMergeKernel: one CUDA block per (row, query head) merges the splits.
// Prefill chunks take XqAttentionTileKernel instead of the first: one CUDA block per tile of
// consecutive query rows of a sequence, each position's key and value loaded (and dequantized)
// once for all the tile's (row, query head) pairs rather than once per row.
// Splitting keeps a GPU busy when rows x KV heads are few (batch-1 decode at long context).
// Rounding: queries meet fp16 keys rounded to fp16, as the reference does; probabilities are not
// rounded to fp16 before weighting fp16 values (online softmax has no final probabilities to
// round), a difference within 2^-11 of max |v|.
#pragma once

#include <cstdint>

#include "kernels/cuda/attention_view.cuh"
#include "kernels/cuda/batch_rows.cuh"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/ops.h"
#include "kernels/include/xquant_batch.h"

namespace xq::cuda {

inline constexpr int kAttentionWarps = 4;
// The kernels are instantiated per channels-per-lane C (1, 2, 4 or 8: D up to 32 C), so each
// lane's state is a fixed number of registers. Query heads of one KV head handled per pass over
// its positions: fewer when C is large, as each costs 3 C registers.
template <int C>
inline constexpr int kHeadsPerPass = C <= 2 ? 8 : 4;

// A position's key or value channels for one lane: out[c] is channel lane + 32 c (0 past D).
// Returns whether the key is fp16 as stored (the window, sinks, 16-bit slots).
template <int C>
__device__ bool LoadKeyChannels(const AttentionView& a, int64_t j, int lane, float* out) {
  bool fp16 = true;
  XQ_UNROLL
  for (int c = 0; c < C; ++c) {
    const int64_t d = lane + kWarpSize * c;
    out[c] = d < a.L->head_dim ? KeyAt(a, j, d, &fp16) : 0.0f;
  }
  return fp16;
}

template <int C>
__device__ void LoadValueChannels(const AttentionView& a, int64_t j, int lane, float* out) {
  XQ_UNROLL
  for (int c = 0; c < C; ++c) {
    const int64_t d = lane + kWarpSize * c;
    out[c] = d < a.L->head_dim ? ValueAt(a, j, d) : 0.0f;
  }
}

// Partials: [rows][num_heads][splits] entries of D weighted-value sums, then (max, sum) pairs
// after all of them.
__host__ __device__ inline int64_t AttentionPartialFloats(int64_t rows, int64_t num_heads,
                                                          int64_t head_dim, int64_t splits) {
  return rows * num_heads * splits * (head_dim + 2);
}

// Shared memory: per warp, D weighted sums and (max, sum).
__host__ __device__ inline size_t AttentionPartialSharedBytes(int64_t D) {
  return static_cast<size_t>(kAttentionWarps) * static_cast<size_t>(D + 2) * sizeof(float);
}

// One warp's running state of a (row, query head) into its slot of `scratch` (kAttentionWarps
// slots of D + 2 floats: weighted values, max, sum).
template <int C>
__device__ __forceinline__ void StoreWarpPartial(float* scratch, int warp, int lane, int64_t D,
                                                 const float* acc, float m, float l) {
  float* mine = scratch + warp * (D + 2);
  XQ_UNROLL
  for (int c = 0; c < C; ++c) {
    const int64_t d = lane + kWarpSize * c;
    if (d < D) mine[d] = acc[c];
  }
  if (lane == 0) {
    mine[D] = m;
    mine[D + 1] = l;
  }
}

// The warps' slots of one (row, query head) combined in warp order into its split's partial:
// weighted values at partial[entry * D], (max, sum) at max_sum[entry * 2]. All the block's
// threads, after a barrier that follows every warp's StoreWarpPartial.
__device__ __forceinline__ void CombineWarpPartials(const float* scratch, int64_t D, int64_t entry,
                                                    float* partial, float* max_sum) {
  float max_all = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) max_all = fmaxf(max_all, scratch[w * (D + 2) + D]);
  for (int64_t d = threadIdx.x; d < D + 1; d += blockDim.x) {
    // d < D: weighted values; d == D: the sum. A warp that saw no position has max -inf.
    float sum = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w) {
      const float* theirs = scratch + w * (D + 2);
      if (theirs[D] != -INFINITY) sum += theirs[d < D ? d : D + 1] * __expf(theirs[D] - max_all);
    }
    if (d < D) {
      partial[entry * D + d] = sum;
    } else {
      max_sum[entry * 2] = max_all;
      max_sum[entry * 2 + 1] = sum;
    }
  }
}

// grid = (rows of the list, num_kv_heads, splits), block = kAttentionWarps * 32 threads,
// shared = AttentionPartialSharedBytes(D), D <= 32 C. The CUDA block's row is row_list[x], or x
// without a list; total_rows: the step's (the partials' layout). Splits past a row's last
// position do nothing.
template <int C>
__global__ void XqAttentionPartialKernel(XqBatchAttentionParams p, int64_t split_tokens,
                                         int64_t splits, const int32_t* row_list,
                                         int64_t total_rows, float* partial) {
  XQ_SHARED(float, smem);
  const XqBatchKv& kv = p.kv;
  const KvBlockLayout& L = *kv.layout;
  const int64_t D = L.head_dim, g = blockIdx.y, split = blockIdx.z;
  const int64_t row = row_list ? row_list[blockIdx.x] : static_cast<int64_t>(blockIdx.x);
  int64_t s, pos;
  RowPosition(kv, row, &s, &pos);
  const int64_t lo = split * split_tokens;
  if (lo > pos) return;  // the whole block: no barrier is left waiting
  const int64_t hi = lo + split_tokens < pos + 1 ? lo + split_tokens : pos + 1;
  const AttentionView a = ViewOf(p, s, g, pos);

  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  constexpr int kHeads = kHeadsPerPass<C>;
  const int64_t group = p.num_heads / L.num_kv_heads;
  float* max_sum = partial + total_rows * p.num_heads * splits * D;
  // Query heads sharing this KV head, up to kHeads at once: each position's key and
  // value are loaded once per pass for all of them.
  for (int64_t h0 = 0; h0 < group; h0 += kHeads) {
    const int heads = static_cast<int>(group - h0 < kHeads ? group - h0 : kHeads);
    const int64_t first_head = g * group + h0;
    // Query channels, fp32 and rounded to fp16 (for fp16 keys); running max, sum and weighted
    // values of each head over this warp's positions lo + warp, lo + warp + warps, ...
    // Loops over heads and channels have constant bounds (unrolled), so that this state stays
    // in registers; heads past `heads` are skipped by a condition uniform across the block.
    float q[kHeads][C], q16[kHeads][C];
    float acc[kHeads][C], m[kHeads], l[kHeads];
    XQ_UNROLL
    for (int h = 0; h < kHeads; ++h) {
      const float* qh = p.q + (row * p.num_heads + first_head + (h < heads ? h : 0)) * D;
      XQ_UNROLL
      for (int c = 0; c < C; ++c) {
        const int64_t d = lane + kWarpSize * c;
        q[h][c] = d < D ? qh[d] : 0.0f;
        q16[h][c] = RoundHalf(q[h][c]);
        acc[h][c] = 0.0f;
      }
      m[h] = -INFINITY;
      l[h] = 0.0f;
    }
    float key[C], value[C];
    for (int64_t j = lo + warp; j < hi; j += kAttentionWarps) {
      const bool fp16_key = LoadKeyChannels<C>(a, j, lane, key);
      float e[kHeads], correction[kHeads];
      XQ_UNROLL
      for (int h = 0; h < kHeads; ++h) {
        if (h < heads) {
          float dot = 0.0f;
          XQ_UNROLL
          for (int c = 0; c < C; ++c) dot += (fp16_key ? q16[h][c] : q[h][c]) * key[c];
          const float score = WarpSum(dot) * p.scale;
          const float m_new = fmaxf(m[h], score);
          correction[h] = __expf(m[h] - m_new);
          e[h] = __expf(score - m_new);
          l[h] = l[h] * correction[h] + e[h];
          m[h] = m_new;
        } else {
          correction[h] = e[h] = 0.0f;
        }
      }
      LoadValueChannels<C>(a, j, lane, value);
      XQ_UNROLL
      for (int h = 0; h < kHeads; ++h) {
        XQ_UNROLL
        for (int c = 0; c < C; ++c) acc[h][c] = acc[h][c] * correction[h] + e[h] * value[c];
      }
    }
    // Per head, the warps' partials combined in warp order through shared memory.
    XQ_UNROLL
    for (int h = 0; h < kHeads; ++h) {
      if (h >= heads) break;
      StoreWarpPartial<C>(smem, warp, lane, D, acc[h], m[h], l[h]);
      __syncthreads();
      CombineWarpPartials(smem, D, (row * p.num_heads + first_head + h) * splits + split, partial,
                          max_sum);
      __syncthreads();  // smem is reused by the next head
    }
  }
}

// Query-row tiles: a tile block computes up to kTilePairs (row, query head) pairs, each warp
// holding every pair's running state in registers.
inline constexpr int kTilePairs = 16;
// Tiles serve head_dim up to this (4 channels a lane: 16 pairs' state stays in registers).
inline constexpr int64_t kMaxTileHeadDim = 128;

// Shared memory of XqAttentionTileKernel: the pairs' queries in fp32 and rounded to fp16, then
// the row kernel's scratch for combining the warps.
__host__ __device__ inline size_t AttentionTileSharedBytes(int64_t D) {
  return static_cast<size_t>(2 * kTilePairs * D) * sizeof(float) + AttentionPartialSharedBytes(D);
}

// grid = (tiles, num_kv_heads, splits), block = kAttentionWarps * 32 threads,
// shared = AttentionTileSharedBytes(D), D <= min(32 C, kMaxTileHeadDim). Tile t is rows
// [tiles[2t], tiles[2t] + tiles[2t + 1]) of one sequence, all with the same quantized frontier,
// at most kTilePairs / group of them (PlanAttentionTiles). The row kernel's work for each of
// those rows, with each position's key and value loaded once for all of them: a warp takes the
// same positions, a pair the same arithmetic (a row skips positions past its own), the warps
// are combined the same way. So a row's result does not depend on whether it ran in a tile.
template <int C>
__global__ void XqAttentionTileKernel(XqBatchAttentionParams p, const int32_t* tiles,
                                      int64_t split_tokens, int64_t splits, int64_t total_rows,
                                      float* partial) {
  XQ_SHARED(float, smem);
  const XqBatchKv& kv = p.kv;
  const KvBlockLayout& L = *kv.layout;
  const int64_t D = L.head_dim, g = blockIdx.y, split = blockIdx.z;
  const int64_t first_row = tiles[2 * blockIdx.x], n = tiles[2 * blockIdx.x + 1];
  int64_t s, first_pos;
  RowPosition(kv, first_row, &s, &first_pos);
  const int64_t last_pos = first_pos + n - 1;
  const int64_t lo = split * split_tokens;
  if (lo > last_pos) return;  // the whole block: no barrier is left waiting
  const int64_t hi = lo + split_tokens < last_pos + 1 ? lo + split_tokens : last_pos + 1;
  const AttentionView a = ViewOf(p, s, g, first_pos);  // every row's frontier

  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int64_t group = p.num_heads / L.num_kv_heads;
  const int pairs = static_cast<int>(n * group);  // at most kTilePairs (PlanAttentionTiles)
  // Pair i: row first_row + i / group, query head g * group + i % group.
  float* q_s = smem;                    // [kTilePairs][D]
  float* q16_s = q_s + kTilePairs * D;  // the same rounded to fp16 (met by fp16 keys)
  for (int64_t e = threadIdx.x; e < pairs * D; e += blockDim.x) {
    const int64_t i = e / D;
    q_s[e] = p.q[((first_row + i / group) * p.num_heads + g * group + i % group) * D + e % D];
    q16_s[e] = RoundHalf(q_s[e]);
  }
  __syncthreads();
  float acc[kTilePairs][C], m[kTilePairs], l[kTilePairs];
  XQ_UNROLL
  for (int i = 0; i < kTilePairs; ++i) {
    XQ_UNROLL
    for (int c = 0; c < C; ++c) acc[i][c] = 0.0f;
    m[i] = -INFINITY;
    l[i] = 0.0f;
  }
  float key[C], value[C];
  for (int64_t j = lo + warp; j < hi; j += kAttentionWarps) {
    const bool fp16_key = LoadKeyChannels<C>(a, j, lane, key);
    LoadValueChannels<C>(a, j, lane, value);
    XQ_UNROLL
    for (int i = 0; i < kTilePairs; ++i) {
      if (i >= pairs) break;
      if (j > first_pos + i / group) continue;  // causal: past this pair's row
      float dot = 0.0f;
      XQ_UNROLL
      for (int c = 0; c < C; ++c) {
        const int64_t d = lane + kWarpSize * c;
        const float* q = fp16_key ? q16_s : q_s;
        dot += (d < D ? q[i * D + d] : 0.0f) * key[c];
      }
      const float score = WarpSum(dot) * p.scale;
      const float m_new = fmaxf(m[i], score);
      const float correction = __expf(m[i] - m_new);
      const float e = __expf(score - m_new);
      l[i] = l[i] * correction + e;
      m[i] = m_new;
      XQ_UNROLL
      for (int c = 0; c < C; ++c) acc[i][c] = acc[i][c] * correction + e * value[c];
    }
  }
  // Per pair, the warps' partials combined in warp order, as the row kernel combines them.
  float* scratch = smem + 2 * kTilePairs * D;
  float* max_sum = partial + total_rows * p.num_heads * splits * D;
  XQ_UNROLL
  for (int i = 0; i < kTilePairs; ++i) {
    if (i >= pairs) break;  // uniform across the block
    StoreWarpPartial<C>(scratch, warp, lane, D, acc[i], m[i], l[i]);
    __syncthreads();
    if (first_pos + i / group >= lo) {  // the merge reads no split past a row's position
      const int64_t row = first_row + i / group, head = g * group + i % group;
      CombineWarpPartials(scratch, D, (row * p.num_heads + head) * splits + split, partial,
                          max_sum);
    }
    __syncthreads();  // scratch is reused by the next pair
  }
}

// grid = (rows, num_heads), block = any multiple of 32 threads: out = the splits' weighted sums
// rescaled to their common max, over their rescaled sums.
__global__ void XqAttentionMergeKernel(XqBatchAttentionParams p, int64_t split_tokens,
                                       int64_t splits, const float* partial) {
  const XqBatchKv& kv = p.kv;
  const int64_t D = kv.layout->head_dim, row = blockIdx.x, head = blockIdx.y;
  int64_t s, pos;
  RowPosition(kv, row, &s, &pos);
  const int64_t used = pos / split_tokens + 1;  // splits that held positions
  const int64_t first = (row * p.num_heads + head) * splits;
  const float* ml = partial + static_cast<int64_t>(gridDim.x) * p.num_heads * splits * D;
  float max_all = -INFINITY;
  for (int64_t k = 0; k < used; ++k) max_all = fmaxf(max_all, ml[(first + k) * 2]);
  float total = 0.0f;
  for (int64_t k = 0; k < used; ++k) {
    total += ml[(first + k) * 2 + 1] * __expf(ml[(first + k) * 2] - max_all);
  }
  const float inv = 1.0f / total;
  float* out = p.out + (row * p.num_heads + head) * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float sum = 0.0f;
    for (int64_t k = 0; k < used; ++k) {
      sum += partial[(first + k) * D + d] * __expf(ml[(first + k) * 2] - max_all);
    }
    out[d] = sum * inv;
  }
}

}  // namespace xq::cuda
