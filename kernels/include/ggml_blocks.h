// GGML quantization block layouts (32 values per block, 256 for K-quants; fp16 scales as raw
// bits), as in GGUF files.
#pragma once

#include <cstdint>

namespace xq {

inline constexpr int kGgmlBlock = 32;

// value[j] = d * (nibble[j] - 8); nibble[j] = qs[j] & 15 for j < 16, qs[j - 16] >> 4 otherwise.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kGgmlBlock / 2];
};

// value[j] = d * nibble[j] + m, nibbles ordered as in BlockQ4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kGgmlBlock / 2];
};

// value[j] = d * qs[j].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kGgmlBlock];
};

// Activations paired with Q4_1 and Q4_K weights: s = fp16(d * sum(qs)) carries the block sum for
// the min.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kGgmlBlock];
};

// Q4_K / Q5_K pack the 6-bit scale and min of their 8 sub-blocks into 12 bytes: sub-blocks 0-3
// use the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 put their low 4 bits in
// bytes 8-11 (scale low nibble, min high nibble) and their top 2 bits in the spare top bits of
// bytes 0-7.
inline void KQuantScaleMin(int sub, const uint8_t* scales, int* scale, int* min) {
  if (sub < 4) {
    *scale = scales[sub] & 63;
    *min = scales[sub + 4] & 63;
  } else {
    *scale = (scales[sub + 4] & 0xf) | ((scales[sub - 4] >> 6) << 4);
    *min = (scales[sub + 4] >> 4) | ((scales[sub] >> 6) << 4);
  }
}

inline constexpr int kGgmlSuperBlock = 256;  // values per K-quant block

// value[v] = (d * sc) * q[v] - (dmin * m) with the 6-bit sc, m of sub-block v / 32
// (KQuantScaleMin); 64-value chunk c keeps q[64c + l] in the low and q[64c + 32 + l] in the high
// nibble of qs[32c + l].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kGgmlSuperBlock / 2];
};

// value[v] = (d * scales[v / 16]) * (q[v] - 32), q 6 bits: per 128-value half h and l < 32, the
// values 128h + 32p + l (p = 0..3) take their low 4 bits from ql[64h + l + 32 (p & 1)] (low
// nibble for p < 2, high nibble otherwise) and their top 2 bits from bits 2p, 2p + 1 of qh[32h +
// l].
struct BlockQ6_K {
  uint8_t ql[kGgmlSuperBlock / 2];
  uint8_t qh[kGgmlSuperBlock / 4];
  int8_t scales[kGgmlSuperBlock / 16];
  uint16_t d;
};

inline int Q4KCode(const BlockQ4_K& b, int v) {
  return (b.qs[32 * (v / 64) + v % 32] >> (4 * (v / 32 % 2))) & 15;
}

// Byte and bit positions of value v's low 4 and top 2 bits in a BlockQ6_K.
struct Q6KBits {
  int ql, ql_shift, qh, qh_shift;
};
constexpr Q6KBits Q6KBitsOf(int v) {
  const int h = v / 128, p = v % 128 / 32, l = v % 32;
  return {64 * h + l + 32 * (p & 1), p < 2 ? 0 : 4, 32 * h + l, 2 * p};
}
inline int Q6KCode(const BlockQ6_K& b, int v) {
  const Q6KBits at = Q6KBitsOf(v);
  return ((b.ql[at.ql] >> at.ql_shift) & 15) | (((b.qh[at.qh] >> at.qh_shift) & 3) << 4);
}

static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);

}  // namespace xq
