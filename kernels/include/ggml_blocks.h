// GGML quantization block layouts (32 values per block, fp16 scales as raw bits), as in GGUF files.
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

// Activations paired with Q4_1 weights: s = fp16(d * sum(qs)) carries the block sum for the min.
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

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);

}  // namespace xq
