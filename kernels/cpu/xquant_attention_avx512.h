// AVX-512 pieces of XQuant attention over one (query, KV head, position range) work item; the
// driver in xquant_attention.cpp splits the work, checks the CPU, and runs the phases in order.
#pragma once

#include <cstdint>

#include "kernels/include/xquant_kernels.h"

namespace xq::xq_avx512 {

// One of K or V of the attended layer as stored; a sharing slot points at layer-1's codes.
struct SlotView {
  int bits = kFp16Bits;
  int64_t codes = -1;   // byte offset in a block (raw fp16 [H][G][D] for a 16-bit slot)
  int64_t params = -1;  // byte offset of the {s, z} pairs; -1 for a 16-bit slot
};

struct AttnCtx {
  const XqAttentionParams* p = nullptr;
  SlotView k, v;
  int64_t H = 0, D = 0, G = 0;
  int64_t heads_per_kv = 0;
  int64_t score_stride = 0;  // floats between score rows
};

// True when these kernels handle the shape (head_dim 32, 64 or 128).
bool Supports(const KvBlockLayout& layout);

// One work item: query t (0-based within p.n), KV head g, positions [a, b). `a` is a multiple of
// G; positions below `frontier` (a multiple of G) come from blocks, the rest from the window.
struct Item {
  int64_t t, g, a, b, frontier;
};

// scores[hh * score_stride + j] = scale * q.k_j for the group's query heads hh, j in [a, b).
void Scores(const AttnCtx& c, const Item& it, float* scores);

// row[0, n) <- softmax(row[0, n)) in fp32.
void Softmax(float* row, int64_t n);

// partial[hh * D + d] = sum over j in [a, b) of weights[hh * score_stride + j] * v_j[d], with
// weights rounded to fp16 where v_j is fp16.
void Values(const AttnCtx& c, const Item& it, const float* weights, float* partial);

}  // namespace xq::xq_avx512
