// Work items of XQuant attention shared by the driver (xquant_attention.cpp) and its per-ISA
// kernels (xquant_attention_avx512.cpp, xquant_attention_avx2.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/include/xquant_kernels.h"
#include "kernels/include/xquant_params.h"
#include "kernels/include/xquant_slot_view.h"

namespace xq::xq_attn {

// The attended layer's fp16 window rows from position pos on that are contiguous (same block
// and page): rows [count, H * D] with row stride H * D, count <= end - pos. Kernels walk the
// window run by run (a plain function, not a callback, so it inlines into any ISA's code).
struct WindowRun {
  const _Float16* rows;
  int64_t count;
};
inline WindowRun WindowRunAt(const XqAttentionParams& p, int is_value, int64_t pos, int64_t end) {
  const XqWindowView w{p.window_pages, p.window_start / p.layout->block_tokens};
  int64_t run;
  const int64_t offset = WindowRowOffset(*p.layout, w, p.layer, is_value, pos, &run);
  return {reinterpret_cast<const _Float16*>(p.arena + offset), std::min(run, end - pos)};
}

// Group i's {s, z} within one head's params, fp16 or 8-bit (kernels/include/xquant_params.h).
struct ParamReader {
  const uint8_t* head;
  int bits;
  ParamBase base;

  ParamReader(const uint8_t* head_params, int param_bits) : head(head_params), bits(param_bits) {
    if (bits == 8) base = LoadParamBase(head);
  }
  ParamPair operator()(int64_t i) const {
    if (bits == 8) return LoadParamPair8(base, head, i);
    _Float16 sz[2];
    std::memcpy(sz, head + i * 4, sizeof sz);
    return {static_cast<float>(sz[0]), static_cast<float>(sz[1])};
  }
};

// Whether every layer's key groups are whole multiples of 16 tokens and value groups of 16
// channels (what the SIMD kernels decode at a time).
inline bool GroupsOf16(const KvBlockLayout& L) {
  for (int64_t l = 0; l < L.num_layers; ++l) {
    if (L.KeyGroupTokens(L.layers[l].k) % 16 != 0) return false;
    if (L.ValueGroupChannels(L.layers[l].v) % 16 != 0) return false;
  }
  return true;
}

struct AttnCtx {
  const XqAttentionParams* p = nullptr;
  KvSlotView k, v;  // the attended layer's halves as stored
  int64_t H = 0, D = 0, G = 0;
  int64_t heads_per_kv = 0;
  int64_t score_stride = 0;  // floats between score rows
};

// One work item: query t (0-based within p.n), KV head g, positions [a, b). `a` is a multiple of
// G; positions in [sink_end, frontier) (multiples of G) come from blocks, the rest from window
// pages (the fp16 sinks below sink_end, the recent window from frontier on).
struct Item {
  int64_t t, g, a, b, frontier, sink_end;
};

// An item's positions by where they are stored: [blocks_begin, blocks_end) in compressed
// blocks; fp16[0] (the sinks) and fp16[1] (the recent window) in window pages. Any may be empty.
struct ItemSpans {
  int64_t blocks_begin, blocks_end;
  std::pair<int64_t, int64_t> fp16[2];
};
inline ItemSpans SpansOf(const Item& it) {
  const int64_t blocks_begin = std::max(it.a, it.sink_end);
  return {blocks_begin,
          std::min(it.b, it.frontier),
          {{it.a, std::min(it.b, it.sink_end)}, {std::max(blocks_begin, it.frontier), it.b}}};
}

// One instruction set's kernels; the driver runs Scores, Softmax, Values in that order.
struct Kernels {
  // True when the kernels handle the shape.
  bool (*supports)(const KvBlockLayout& layout);
  // scores[hh * score_stride + j] = scale * q.k_j for the group's query heads hh, j in [a, b).
  void (*scores)(const AttnCtx& c, const Item& it, float* scores);
  // row[0, n) <- softmax(row[0, n)) in fp32.
  void (*softmax)(float* row, int64_t n);
  // partial[hh * D + d] = sum over j in [a, b) of weights[hh * score_stride + j] * v_j[d], with
  // weights rounded to fp16 where v_j is fp16.
  void (*values)(const AttnCtx& c, const Item& it, const float* weights, float* partial);
};

}  // namespace xq::xq_attn
