// AVX2 + FMA + F16C pieces of the quantized matmul; callers check the CPU first (see qgemm.cpp).
#pragma once

#include <cstdint>

#include "kernels/include/qgemm.h"

namespace xq::qgemm_avx2 {

// Quantizes n consecutive 32-blocks of x into BlockQ8_1 (q8_1) or BlockQ8_0 blocks.
void QuantizeBlocks(bool q8_1, const float* x, int64_t n, void* xq);

inline constexpr int kMaxTileRows = 8;

// Activation scales as fp32, transposed so one load gives a block's scales for a tile of rows.
struct ActScales {
  const float* d;  // [nb, stride] activation d; stride >= rows rounded up to kMaxTileRows
  const float* s;  // [nb, stride] activation s (Q8_1 only, else unused)
  int64_t stride;
};

// Fills d and s ([nb, stride] as in ActScales; s only for Q8_1) from [rows, nb] activation blocks;
// padding lanes become 0.
void ConvertScales(bool q8_1, const void* xq, int64_t rows, int64_t nb, int64_t stride, float* d,
                   float* s);

// y[r, o] for r in [r0, r0 + nr), nr <= 8, and o in [o0, o1).
void Tile(const QGemmParams& p, const ActScales& scales, int64_t o0, int64_t o1, int64_t r0,
          int nr);

}  // namespace xq::qgemm_avx2
