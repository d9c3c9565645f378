// Kernels over XQuant KV blocks (format in kernels/include/xquant_format.h): quantizing one
// layer's slice of a block when it leaves the recent window, and attention that reads packed
// codes directly (never materializing a dequantized cache) plus the fp16 recent window.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"
#include "kernels/include/xquant_format.h"

namespace xq {

// Writes layer `layer`'s sections of `block` from the block's G tokens:
//   k, v: [G, H * D] fp16 rows (token-major, as the recent window stores them)
// Lower/unshared slots get codes and calibrated params; a sharing slot gets only its own params
// (attention decodes it with layer-1's codes, so both must be written before it runs); 16-bit
// slots copy. Groups whose range exceeds the fp16 maximum (65504) are out of the format's range
// (as they would be for an fp16 cache). Quantizer per group X: z = min X, s = (max X - z) / (2^B -
// 1), code = clamp(nearbyint((x - z) / s), 0, 2^B - 1), code 0 where s == 0; stored s' = (1 - 2
// eta) s, z' = z + eta s (2^B - 1), both rounded to fp16.
void XqQuantizeBlockLayer(const KvBlockLayout& layout, int64_t layer, const Fp16* k, const Fp16* v,
                          uint8_t* block);
void XqQuantizeBlockLayerReference(const KvBlockLayout& layout, int64_t layer, const Fp16* k,
                                   const Fp16* v, uint8_t* block);

struct XqAttentionParams {
  const KvBlockLayout* layout = nullptr;
  int64_t layer = 0;
  // Compressed history: positions [0, num_blocks * G) live in blocks block_table[0..num_blocks).
  const uint8_t* arena = nullptr;        // block or window page b starts at arena + b * block_bytes
  const int32_t* block_table = nullptr;  // [num_blocks]
  int64_t num_blocks = 0;
  // fp16 positions [window_start, window_start + window_len) in window pages (the recent window
  // plus the tokens being appended; xquant_format.h gives the page format). window_start is a
  // multiple of G. Requires window_start <= QuantizedFrontier(L - n + 1, R, G) (the first
  // query's frontier) and QuantizedFrontier(L, R, G) <= num_blocks * G. The list starts with the
  // sink blocks held (xquant_format.h: XqWindowView).
  const int32_t* window_pages = nullptr;  // [(held + ceil(window_len / G)) * pages per block]
  int64_t window_start = 0;
  int64_t window_len = 0;
  // Queries for the last n positions [L - n, L), L = window_start + window_len, causal.
  const float* q = nullptr;  // [n, num_heads * D], RoPE applied
  int64_t n = 0;
  int64_t num_heads = 0;  // multiple of layout->num_kv_heads (GQA)
  // The query at position p reads positions [SinkEnd, F) with F = QuantizedFrontier(p + 1, R, G)
  // from blocks and the rest up to p from window pages: exactly what one-token-at-a-time
  // decoding would see, so chunked prefill and decode agree.
  int64_t recent_window = 0;  // R
  float scale = 0.0f;         // softmax scale, usually 1/sqrt(D)
  float* out = nullptr;       // [n, num_heads * D]
};

// Rounding as llama.cpp's CPU attention (fp16 cache semantics): queries rounded to fp16 for dot
// products with fp16 slots and the window, probabilities rounded to fp16 before weighting fp16
// values; quantized slots are accumulated in fp32.
void XqAttention(const XqAttentionParams& p);           // SIMD, the compute pool over heads/queries
void XqAttentionReference(const XqAttentionParams& p);  // scalar truth, single thread

}  // namespace xq
