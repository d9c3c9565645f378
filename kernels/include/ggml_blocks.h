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

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);

}  // namespace xq
