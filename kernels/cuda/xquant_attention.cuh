// Attention over XQuant blocks and the fp16 window on the device, reading the packed codes
// directly (kernels/include/xquant_batch.h gives the batch; XqAttentionReference the semantics
// and rounding). A first, plain kernel: one CUDA block per (query row, head), threads over
// positions, three passes (max, sum, weighted values) recomputing the scores, block reductions
// through shared memory. Split-KV, GQA sharing of loads and CUDA-graph-friendly tuning come next.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/ops.h"
#include "kernels/include/xquant_batch.h"

namespace xq::cuda {

// One of K or V of the attended layer as stored; a sharing slot reads the layer below's codes.
struct DeviceSlot {
  int bits;
  int64_t codes, params;  // byte offsets within a block; params -1 for a 16-bit slot
};

__device__ __forceinline__ DeviceSlot SlotOf(const KvBlockLayout& L, int64_t layer, bool key) {
  const KvSlotSpec& spec = key ? L.layers[layer].k : L.layers[layer].v;
  const KvLayerOffsets& own = L.offsets[layer];
  const KvLayerOffsets& coder = spec.shares_codes ? L.offsets[layer - 1] : own;
  return {spec.bits, key ? coder.k_codes : coder.v_codes, key ? own.k_params : own.v_params};
}

__device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  uint16_t bits;
  memcpy(&bits, p, 2);
  return HalfBitsToFloat(bits);
}

__device__ __forceinline__ int CodeAt(const uint8_t* codes, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (codes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

__device__ __forceinline__ float RoundHalf(float x) { return HalfBitsToFloat(FloatToHalfBits(x)); }

// What one (query row, head) reads: the sequence's tables and the KV head's slots.
struct AttentionView {
  const KvBlockLayout* L;
  const uint8_t* arena;
  const int32_t* blocks;
  XqWindowView window;
  int64_t layer, g, frontier;
  int64_t sink_end;  // positions below it are fp16 sinks (xquant_format.h: SinkEnd)
  DeviceSlot k, v;
};

// scale * q.k_j; q16 is q rounded to fp16 (used against fp16 keys).
__device__ float Score(const AttentionView& a, const float* q, const float* q16, int64_t j,
                       float scale) {
  const KvBlockLayout& L = *a.L;
  const int64_t D = L.head_dim, G = L.block_tokens;
  float dot = 0.0f;
  if (j >= a.sink_end && j < a.frontier) {
    const uint8_t* block = a.arena + static_cast<int64_t>(a.blocks[j / G]) * L.block_bytes;
    if (a.k.bits == kFp16Bits) {
      const uint8_t* k = block + a.k.codes + ((a.g * G + j % G) * D) * 2;
      for (int64_t d = 0; d < D; ++d) dot += q16[d] * LoadHalf(k + d * 2);
    } else {
      for (int64_t d = 0; d < D; ++d) {
        const int64_t group = a.g * D + d;
        const int code =
            CodeAt(block + a.k.codes + group * L.KeyCodeBytes(a.k.bits), j % G, a.k.bits);
        const float s = LoadHalf(block + a.k.params + group * 4);
        const float z = LoadHalf(block + a.k.params + group * 4 + 2);
        dot += q[d] * (static_cast<float>(code) * s + z);
      }
    }
  } else {
    int64_t run;
    const uint8_t* k = a.arena + WindowRowOffset(L, a.window, a.layer, 0, j, &run) + a.g * D * 2;
    for (int64_t d = 0; d < D; ++d) dot += q16[d] * LoadHalf(k + d * 2);
  }
  return dot * scale;
}

// acc[d] += w * v_j[d], w rounded to fp16 where v_j is fp16 (as the reference does).
__device__ void AddValue(const AttentionView& a, int64_t j, float w, float* acc) {
  const KvBlockLayout& L = *a.L;
  const int64_t D = L.head_dim, G = L.block_tokens;
  if (j >= a.sink_end && j < a.frontier) {
    const uint8_t* block = a.arena + static_cast<int64_t>(a.blocks[j / G]) * L.block_bytes;
    const int64_t row = a.g * G + j % G;
    if (a.v.bits == kFp16Bits) {
      const float w16 = RoundHalf(w);
      for (int64_t d = 0; d < D; ++d)
        acc[d] += w16 * LoadHalf(block + a.v.codes + (row * D + d) * 2);
    } else {
      const uint8_t* codes = block + a.v.codes + row * L.ValueCodeBytes(a.v.bits);
      for (int64_t d = 0; d < D; ++d) {
        const uint8_t* sz = block + a.v.params + (row * L.ValueGroups() + d / G) * 4;
        const float x =
            static_cast<float>(CodeAt(codes, d, a.v.bits)) * LoadHalf(sz) + LoadHalf(sz + 2);
        acc[d] += w * x;
      }
    }
  } else {
    int64_t run;
    const uint8_t* v = a.arena + WindowRowOffset(L, a.window, a.layer, 1, j, &run) + a.g * D * 2;
    const float w16 = RoundHalf(w);
    for (int64_t d = 0; d < D; ++d) acc[d] += w16 * LoadHalf(v + d * 2);
  }
}

__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, offset));
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, offset));
  }
  __syncthreads();
  return v;
}

// Threads per block for head_dim D: the final reduction keeps [threads][D] floats (32 KiB) in
// shared memory.
__host__ __device__ inline unsigned AttentionThreads(int64_t D) {
  const int64_t t = 8192 / D / 32 * 32;
  return static_cast<unsigned>(t < 32 ? 32 : t > 128 ? 128 : t);
}
__host__ __device__ inline size_t AttentionSharedBytes(int64_t D) {
  return static_cast<size_t>(AttentionThreads(D)) * static_cast<size_t>(D) * sizeof(float);
}

// grid = (rows, num_heads), block = AttentionThreads(D), shared = AttentionSharedBytes(D).
__global__ void XqAttentionKernel(XqBatchAttentionParams p) {
  XQ_SHARED(float, scratch);
  const XqBatchKv& kv = p.kv;
  const KvBlockLayout& L = *kv.layout;
  const int64_t D = L.head_dim, row = blockIdx.x, head = blockIdx.y;
  int64_t s = 0;  // the row's sequence
  while (kv.qo_indptr[s + 1] <= row) ++s;
  const int64_t rows = kv.qo_indptr[s + 1] - kv.qo_indptr[s];
  const int64_t pos = kv.kv_len[s] - rows + (row - kv.qo_indptr[s]);
  AttentionView a;
  a.L = kv.layout;
  a.arena = kv.arena;
  a.blocks = kv.block_ids + kv.block_indptr[s];
  a.window = {kv.window_pages + kv.window_indptr[s], kv.window_start[s] / L.block_tokens};
  a.layer = p.layer;
  a.g = head / (p.num_heads / L.num_kv_heads);
  a.frontier = QuantizedFrontier(pos + 1, p.recent_window, L.block_tokens);
  a.sink_end = SinkEnd(L, a.frontier);
  a.k = SlotOf(L, p.layer, true);
  a.v = SlotOf(L, p.layer, false);

  const float* q = p.q + (row * p.num_heads + head) * D;
  float q16[kMaxAttentionHeadDim];
  for (int64_t d = 0; d < D; ++d) q16[d] = RoundHalf(q[d]);

  float max_score = -INFINITY;
  for (int64_t j = threadIdx.x; j <= pos; j += blockDim.x) {
    max_score = fmaxf(max_score, Score(a, q, q16, j, p.scale));
  }
  max_score = BlockMax(max_score, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j <= pos; j += blockDim.x) {
    sum += __expf(Score(a, q, q16, j, p.scale) - max_score);
  }
  const float inv = 1.0f / BlockSum(sum, scratch);
  float acc[kMaxAttentionHeadDim];
  for (int64_t d = 0; d < D; ++d) acc[d] = 0.0f;
  for (int64_t j = threadIdx.x; j <= pos; j += blockDim.x) {
    AddValue(a, j, __expf(Score(a, q, q16, j, p.scale) - max_score) * inv, acc);
  }
  // Partials summed in thread order, one channel per thread.
  for (int64_t d = 0; d < D; ++d) scratch[threadIdx.x * D + d] = acc[d];
  __syncthreads();
  float* out = p.out + (row * p.num_heads + head) * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float total = 0.0f;
    for (unsigned t = 0; t < blockDim.x; ++t) total += scratch[t * D + d];
    out[d] = total;
  }
}

}  // namespace xq::cuda
