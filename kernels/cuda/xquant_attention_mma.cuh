// Prefill attention on tensor cores: XqAttentionTileKernel's work (a tile of consecutive query
// rows of one sequence against every position of a split) with the scores and the weighted
// values computed by warp MMAs (warp_mma.cuh) instead of per-lane dot products, as
// FlashAttention-2 does. The block dequantizes each chunk of positions' keys and values once into
// shared memory as fp16; each warp owns 16 (row, query head) pairs and runs the online softmax
// for them in registers: a lane holds two pairs' scores (fragment rows g and g + 8), and the
// scores' accumulator layout is the layout the probabilities need as the next product's A
// operand, so probabilities never leave registers.
// Rounding, unlike the row kernel: queries, dequantized keys and values, and probabilities are
// fp16 in the products (fp32 accumulation), so results differ from the reference by those
// roundings (the emulated test bounds them); the row and CUDA-core tile kernels stay the exact
// path.
#pragma once

#include <cstdint>

#include "kernels/cuda/half_vectors.cuh"
#include "kernels/cuda/warp_mma.cuh"
#include "kernels/cuda/xquant_attention.cuh"

namespace xq::cuda {

inline constexpr int kMmaWarps = 4;
inline constexpr int kMmaPairsPerWarp = 16;                         // an MMA's 16 rows
inline constexpr int kMmaTilePairs = kMmaWarps * kMmaPairsPerWarp;  // a tile's pairs
inline constexpr int kMmaChunk = 32;  // positions dequantized into shared memory at once

// Shared memory: a chunk's keys as fp16 rows of DP channels (DP = head_dim rounded up to 32, 64
// or 128; channels past head_dim are zero) and its values transposed, a row of kMmaChunk
// positions per channel, so that each lane's pair of B elements (two channels of a key, or two
// positions of a value channel) is one aligned 32-bit load. Rows are padded by 8 halves (4
// banks): the 8 fragment groups of a load then hit 8 distinct sets of 4 banks.
inline constexpr int kMmaRowPad = 8;
__host__ __device__ inline constexpr int64_t MmaKeyStride(int64_t DP) { return DP + kMmaRowPad; }
inline constexpr int64_t kMmaValueStride = kMmaChunk + kMmaRowPad;
__host__ __device__ inline constexpr size_t AttentionMmaSharedBytes(int64_t DP) {
  return static_cast<size_t>(kMmaChunk * MmaKeyStride(DP) + DP * kMmaValueStride) *
         sizeof(uint16_t);
}
static_assert(AttentionMmaSharedBytes(128) <= 48 * 1024,
              "past 48 KiB a launch needs an opt-in attribute");

// Positions [c0, c0 + kMmaChunk) of the view's KV head, keys and values, as fp16 in the layout
// above (zeros past hi and past D). All the block's threads, each taking a run of 8 channels of
// a position (one lookup of where the position is stored per run); consecutive threads take
// consecutive positions, so their transposed value stores fall in distinct banks and their
// reads of a channel's key codes are adjacent.
template <int DP>
__device__ __forceinline__ void LoadChunk(const AttentionView& a, int64_t c0, int64_t hi,
                                          uint16_t* keys, uint16_t* values) {
  constexpr int kRun = 8, kRuns = DP / kRun;
  for (int e = static_cast<int>(threadIdx.x); e < kMmaChunk * kRuns;
       e += static_cast<int>(blockDim.x)) {
    const int t = e % kMmaChunk, d0 = e / kMmaChunk * kRun;
    const int64_t j = c0 + t;
    float k[kRun], v[kRun];
    if (j < hi) {
      KeyRun<kRun>(a, j, d0, k);
      ValueRun<kRun>(a, j, d0, v);
    }
    alignas(16) uint16_t k16[kRun];
    XQ_UNROLL
    for (int n = 0; n < kRun; ++n) {
      k16[n] = FloatToHalfBits(j < hi ? k[n] : 0.0f);
      values[(d0 + n) * kMmaValueStride + t] = FloatToHalfBits(j < hi ? v[n] : 0.0f);
    }
    CopyHalves8(keys + t * MmaKeyStride(DP) + d0, k16);  // row stride: a multiple of 16 bytes
  }
}

// grid = (tiles, num_kv_heads, splits), block = kMmaWarps * 32 threads,
// shared = AttentionMmaSharedBytes(DP), head_dim <= DP. Tiles as for XqAttentionTileKernel
// with at most kMmaTilePairs / group rows (PlanAttentionTiles with kMmaTilePairs). Pair i (row
// first_row + i / group, query head g * group + i % group) is row i % 16 of warp i / 16's MMAs.
// Writes the same partials (weighted values, max, sum per split) as the other kernels.
template <int DP>
__global__ void XqAttentionMmaKernel(XqBatchAttentionParams p, const int32_t* tiles,
                                     int64_t split_tokens, int64_t splits, int64_t total_rows,
                                     float* partial) {
  XQ_SHARED(uint16_t, smem);
  uint16_t* keys = smem;                                   // [kMmaChunk][key stride]
  uint16_t* values = smem + kMmaChunk * MmaKeyStride(DP);  // [DP][kMmaValueStride]
  const XqBatchKv& kv = p.kv;
  const int64_t D = kv.layout->head_dim, g = blockIdx.y, split = blockIdx.z;
  const int64_t first_row = tiles[2 * blockIdx.x], n = tiles[2 * blockIdx.x + 1];
  int64_t s, first_pos;
  RowPosition(kv, first_row, &s, &first_pos);
  const int64_t lo = split * split_tokens;
  if (lo > first_pos + n - 1) return;  // the whole block: no barrier is left waiting
  const int64_t hi = lo + split_tokens < first_pos + n ? lo + split_tokens : first_pos + n;
  const AttentionView a = ViewOf(p, s, g, first_pos);  // every row's frontier

  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int fg = lane / 4, ft = lane % 4;  // the fragments' group and thread in group
  const int64_t group = p.num_heads / kv.layout->num_kv_heads;
  const int64_t pairs = n * group;
  // This lane's two pairs (fragment rows fg and fg + 8): their last position (-1 for a pair
  // past the tile: every score masked) and query.
  int64_t last[2];
  const float* q[2];
  for (int h = 0; h < 2; ++h) {
    const int64_t i = warp * kMmaPairsPerWarp + fg + 8 * h;
    last[h] = i < pairs ? first_pos + i / group : -1;
    const int64_t row = first_row + (i < pairs ? i / group : 0), head = g * group + i % group;
    q[h] = p.q + (row * p.num_heads + head) * D;
  }
  // The warp's queries, scaled (so fp16 holds any query whose scores fp32 does), as A
  // fragments (fp16), one per 16 channels.
  uint32_t qa[DP / 16][4];
  XQ_UNROLL
  for (int ks = 0; ks < DP / 16; ++ks) {
    XQ_UNROLL
    for (int r = 0; r < 4; ++r) {
      const int64_t d = ks * 16 + 2 * ft + 8 * (r >> 1);
      const float* qr = q[r & 1];
      const bool live = last[r & 1] >= 0;
      qa[ks][r] = PackHalves(live && d < D ? qr[d] * p.scale : 0.0f,
                             live && d + 1 < D ? qr[d + 1] * p.scale : 0.0f);
    }
  }
  float o[DP / 8][4];  // weighted values: channels 8 dt + 2 ft + {0, 1} of rows fg, fg + 8
  XQ_UNROLL
  for (int dt = 0; dt < DP / 8; ++dt) {
    XQ_UNROLL
    for (int i = 0; i < 4; ++i) o[dt][i] = 0.0f;
  }
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // l: this lane's columns only
  const bool busy = warp * kMmaPairsPerWarp < pairs;         // uniform across the warp

  for (int64_t c0 = lo; c0 < hi; c0 += kMmaChunk) {
    __syncthreads();  // every warp is done with the previous chunk
    LoadChunk<DP>(a, c0, hi, keys, values);
    __syncthreads();
    if (!busy) continue;
    // Scores of 8 positions per tile: position c0 + 8 nt + 2 ft + (i & 1), pair row i >> 1.
    float sc[kMmaChunk / 8][4];
    XQ_UNROLL
    for (int nt = 0; nt < kMmaChunk / 8; ++nt) {
      XQ_UNROLL
      for (int i = 0; i < 4; ++i) sc[nt][i] = 0.0f;
      const uint16_t* key = keys + (8 * nt + fg) * MmaKeyStride(DP) + 2 * ft;
      XQ_UNROLL
      for (int ks = 0; ks < DP / 16; ++ks) {
        const uint32_t b[2] = {LoadHalfPair(key + 16 * ks), LoadHalfPair(key + 16 * ks + 8)};
        MmaM16N8K16(sc[nt], qa[ks], b);
      }
    }
    // Online softmax per pair; a pair's 4 lanes (same fg) share its max through shuffles.
    float chunk_max[2] = {-INFINITY, -INFINITY};
    XQ_UNROLL
    for (int nt = 0; nt < kMmaChunk / 8; ++nt) {
      XQ_UNROLL
      for (int i = 0; i < 4; ++i) {
        const int64_t j = c0 + 8 * nt + 2 * ft + (i & 1);
        if (j >= hi || j > last[i >> 1]) sc[nt][i] = -INFINITY;
        chunk_max[i >> 1] = fmaxf(chunk_max[i >> 1], sc[nt][i]);
      }
    }
    float correction[2];
    XQ_UNROLL
    for (int h = 0; h < 2; ++h) {
      chunk_max[h] = fmaxf(chunk_max[h], __shfl_xor_sync(kFullWarp, chunk_max[h], 1));
      chunk_max[h] = fmaxf(chunk_max[h], __shfl_xor_sync(kFullWarp, chunk_max[h], 2));
      const float m_new = fmaxf(m[h], chunk_max[h]);
      // Nothing seen yet (m_new -inf): nothing to correct, every probability 0.
      correction[h] = m_new == -INFINITY ? 1.0f : __expf(m[h] - m_new);
      m[h] = m_new;
      l[h] *= correction[h];
    }
    // Probabilities, rounded to fp16 as the product takes them (the sums count them rounded).
    uint32_t pa[kMmaChunk / 16][4];
    XQ_UNROLL
    for (int nt = 0; nt < kMmaChunk / 8; ++nt) {
      float pr[4];
      XQ_UNROLL
      for (int i = 0; i < 4; ++i) {
        const float mh = m[i >> 1];
        pr[i] = sc[nt][i] == -INFINITY ? 0.0f : RoundHalf(__expf(sc[nt][i] - mh));
        l[i >> 1] += pr[i];
      }
      // Scores tile nt is columns 8 (nt % 2) .. of the probabilities' k-step nt / 2.
      pa[nt / 2][2 * (nt % 2)] = PackHalves(pr[0], pr[1]);
      pa[nt / 2][2 * (nt % 2) + 1] = PackHalves(pr[2], pr[3]);
    }
    XQ_UNROLL
    for (int dt = 0; dt < DP / 8; ++dt) {
      o[dt][0] *= correction[0];
      o[dt][1] *= correction[0];
      o[dt][2] *= correction[1];
      o[dt][3] *= correction[1];
      XQ_UNROLL
      for (int kk = 0; kk < kMmaChunk / 16; ++kk) {
        // B: positions 16 kk + 2 ft + {0, 1} (+ 8) of channel 8 dt + fg.
        const uint16_t* v = values + (8 * dt + fg) * kMmaValueStride + 16 * kk + 2 * ft;
        const uint32_t b[2] = {LoadHalfPair(v), LoadHalfPair(v + 8)};
        MmaM16N8K16(o[dt], pa[kk], b);
      }
    }
  }
  if (!busy) return;  // no barrier follows
  // A pair's sum over its 4 lanes, then its partial for this split: rows whose position is
  // before the split have none (the merge reads no split past a row's position).
  XQ_UNROLL
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(kFullWarp, l[h], 1);
    l[h] += __shfl_xor_sync(kFullWarp, l[h], 2);
  }
  float* max_sum = partial + total_rows * p.num_heads * splits * D;
  XQ_UNROLL
  for (int h = 0; h < 2; ++h) {
    if (last[h] < lo) continue;
    const int64_t i = warp * kMmaPairsPerWarp + fg + 8 * h;
    const int64_t row = first_row + i / group, head = g * group + i % group;
    const int64_t entry = (row * p.num_heads + head) * splits + split;
    XQ_UNROLL
    for (int dt = 0; dt < DP / 8; ++dt) {
      XQ_UNROLL
      for (int c = 0; c < 2; ++c) {
        const int64_t d = 8 * dt + 2 * ft + c;
        if (d < D) partial[entry * D + d] = o[dt][2 * h + c];
      }
    }
    if (ft == 0) {
      max_sum[entry * 2] = m[h];
      max_sum[entry * 2 + 1] = l[h];
    }
  }
}

}  // namespace xq::cuda
