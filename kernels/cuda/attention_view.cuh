// What attention reads of one KV head of one sequence, element by element: a key or value
// channel of a position, from its compressed block (codes and params), an fp16 sink or the fp16
// window, as docs/KV_FORMAT.md lays them out. Shared by the attention kernels (and, under the
// SIMT emulation, by tests modelling them).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_batch.h"
#include "kernels/include/xquant_params.h"
#include "kernels/include/xquant_slot_view.h"

namespace xq::cuda {

// Group i's {s, z} of the head whose params start at `head` (xquant_format.h, xquant_params.h).
__device__ __forceinline__ ParamPair GroupParams(const uint8_t* head, int param_bits, int64_t i) {
  if (param_bits == 8) return LoadParamPair8(LoadParamBase(head), head, i);
  return {LoadHalf(head + i * 4), LoadHalf(head + i * 4 + 2)};
}

__device__ __forceinline__ int CodeAt(const uint8_t* codes, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (codes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

// What one (query row, head) reads: the sequence's tables and the KV head's slots.
struct AttentionView {
  const KvBlockLayout* L;
  const uint8_t* arena;
  const int32_t* blocks;
  XqWindowView window;
  int64_t layer, g, frontier;
  int64_t sink_end;  // positions below it are fp16 sinks (xquant_format.h: SinkEnd)
  KvSlotView k, v;
};

// KV head g of sequence s as its query row at position pos sees it (the frontier moves with
// the position).
__device__ __forceinline__ AttentionView ViewOf(const XqBatchAttentionParams& p, int64_t s,
                                                int64_t g, int64_t pos) {
  const XqBatchKv& kv = p.kv;
  const KvBlockLayout& L = *kv.layout;
  AttentionView a;
  a.L = kv.layout;
  a.arena = kv.arena;
  a.blocks = kv.block_ids + kv.block_indptr[s];
  a.window = {kv.window_pages + kv.window_indptr[s], kv.window_start[s] / L.block_tokens};
  a.layer = p.layer;
  a.g = g;
  a.frontier = QuantizedFrontier(pos + 1, p.recent_window, L.block_tokens);
  a.sink_end = SinkEnd(L, a.frontier);
  a.k = SlotViewOf(L, p.layer, true);
  a.v = SlotViewOf(L, p.layer, false);
  return a;
}

// Position j's fp16 key (slot 0) or value (slot 1) row of the view's KV head in the window or
// the sink pages.
__device__ __forceinline__ const uint8_t* WindowRow(const AttentionView& a, int64_t j, int slot) {
  int64_t run;
  return a.arena + WindowRowOffset(*a.L, a.window, a.layer, slot, j, &run) +
         a.g * a.L->head_dim * 2;
}

// Channels d0 .. d0 + N - 1 of an fp16 row of D channels (0 past D).
template <int N>
__device__ __forceinline__ void LoadHalfRun(const uint8_t* row16, int64_t d0, int64_t D,
                                            float* out) {
  XQ_UNROLL
  for (int n = 0; n < N; ++n) out[n] = d0 + n < D ? LoadHalf(row16 + (d0 + n) * 2) : 0.0f;
}

// Channels d0 .. d0 + N - 1 of position j's key (0 past D), the position's place found once.
// Returns whether the key is fp16 as stored (the window, sinks, 16-bit slots) rather than
// dequantized from codes: queries meet fp16 keys rounded to fp16, as the reference does.
template <int N>
__device__ __forceinline__ bool KeyRun(const AttentionView& a, int64_t j, int64_t d0, float* out) {
  const KvBlockLayout& L = *a.L;
  const int64_t D = L.head_dim, G = L.block_tokens;
  const uint8_t* row16;  // the key's fp16 channels, when stored so
  if (j >= a.sink_end && j < a.frontier) {
    const uint8_t* block = a.arena + static_cast<int64_t>(a.blocks[j / G]) * L.block_bytes;
    const int64_t t = j % G;
    if (a.k.bits != kFp16Bits) {
      const int64_t code_bytes = L.KeyCodeBytes(a.k.bits);
      const uint8_t* codes = block + a.k.codes + a.g * D * code_bytes;  // channel-major
      const uint8_t* params = block + a.k.params + a.g * a.k.head_params;
      const int64_t first_param = t / a.k.group_tokens * D;
      XQ_UNROLL
      for (int n = 0; n < N; ++n) {
        const int64_t d = d0 + n;
        if (d >= D) {
          out[n] = 0.0f;
          continue;
        }
        const int code = CodeAt(codes + d * code_bytes, t, a.k.bits);
        const ParamPair sz = GroupParams(params, a.k.param_bits, first_param + d);
        out[n] = static_cast<float>(code) * sz.s + sz.z;
      }
      return false;
    }
    row16 = block + a.k.codes + (a.g * G + t) * D * 2;
  } else {
    row16 = WindowRow(a, j, 0);
  }
  LoadHalfRun<N>(row16, d0, D, out);
  return true;
}

// Channels d0 .. d0 + N - 1 of position j's value (0 past D).
template <int N>
__device__ __forceinline__ void ValueRun(const AttentionView& a, int64_t j, int64_t d0,
                                         float* out) {
  const KvBlockLayout& L = *a.L;
  const int64_t D = L.head_dim, G = L.block_tokens;
  const uint8_t* row16;  // the value's fp16 channels, when stored so
  if (j >= a.sink_end && j < a.frontier) {
    const uint8_t* block = a.arena + static_cast<int64_t>(a.blocks[j / G]) * L.block_bytes;
    const int64_t row = a.g * G + j % G;
    if (a.v.bits != kFp16Bits) {
      const uint8_t* codes = block + a.v.codes + row * L.ValueCodeBytes(a.v.bits);
      const uint8_t* params = block + a.v.params + a.g * a.v.head_params;
      const int64_t groups = D / a.v.group_channels, first_param = j % G * groups;
      XQ_UNROLL
      for (int n = 0; n < N; ++n) {
        const int64_t d = d0 + n;
        if (d >= D) {
          out[n] = 0.0f;
          continue;
        }
        const ParamPair sz =
            GroupParams(params, a.v.param_bits, first_param + d / a.v.group_channels);
        out[n] = static_cast<float>(CodeAt(codes, d, a.v.bits)) * sz.s + sz.z;
      }
      return;
    }
    row16 = block + a.v.codes + row * D * 2;
  } else {
    row16 = WindowRow(a, j, 1);
  }
  LoadHalfRun<N>(row16, d0, D, out);
}

// Channel d < D of position j's key; *fp16 set false when it was dequantized from codes.
__device__ __forceinline__ float KeyAt(const AttentionView& a, int64_t j, int64_t d, bool* fp16) {
  float v;
  if (!KeyRun<1>(a, j, d, &v)) *fp16 = false;
  return v;
}

// Channel d < D of position j's value.
__device__ __forceinline__ float ValueAt(const AttentionView& a, int64_t j, int64_t d) {
  float v;
  ValueRun<1>(a, j, d, &v);
  return v;
}

}  // namespace xq::cuda
