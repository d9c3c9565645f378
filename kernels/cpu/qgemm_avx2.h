// AVX2 + FMA + F16C pieces of the quantized matmul; callers check the CPU first (see qgemm.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/include/qgemm.h"

namespace xq::qgemm_avx2 {

// Quantizes n consecutive 32-blocks of x into BlockQ8_1 (q8_1) or BlockQ8_0 blocks.
void QuantizeBlocks(bool q8_1, const float* x, int64_t n, void* xq);

// Activation rows one microkernel call serves from each packed weight load.
inline constexpr int kTileRows = 4;

// What the microkernel reads of the quantized activations, per row and 32-block.
struct ActTerms {
  const uint8_t* qs;  // codes of row 0, block 0; blocks are block_bytes apart, rows row_bytes
  size_t block_bytes;
  size_t row_bytes;
  int64_t nb;           // 32-blocks per row
  const float* d;       // [rows, nb] activation scales
  const float* s;  // [rows, nb] Q4_1, Q4_K: the block's s (fp16 of d * sum(codes)); else unused
  const int32_t* corr;  // [rows, nb] Q4_0: -8 * sum(codes); [rows, nb, 2] Q6_K: -32 * the sums
                        // of codes 0..15 and 16..31; unused otherwise
  // Q8_0 on AVX-512 VNNI only: [rows, nb * 32] codes + 128 as unsigned bytes (ShiftCodes).
  const uint8_t* shifted;
};

// Fills d and either s (Q4_1, Q4_K) or corr (Q4_0, Q6_K) as ActTerms has them, for rows r0..r1.
void ComputeActTerms(QWeightType type, const void* xq, int64_t r0, int64_t r1, int64_t nb, float* d,
                     float* s, int32_t* corr);

// Q8_0 activation codes of rows r0..r1 plus 128, as unsigned bytes ([rows, nb * 32]).
void ShiftCodes(const void* xq, int64_t r0, int64_t r1, int64_t nb, uint8_t* shifted);

// Interleaves the GGML weight rows o0 .. o0 + ncols (ncols <= qgemm_layout::kGroupCols; missing
// rows become zero weights) into one packed group (qgemm_layout.h) over nb blocks.
void PackGroup(QWeightType type, const void* w, int64_t nb, int64_t o0, int ncols,
               uint8_t* packed);

// y[r, c] (+)= the packed group's output c for activation rows r0 .. r0 + nr, nr <= kTileRows,
// c < ncols; y points at output feature o0 of row 0 and rows are y_stride floats apart.
void GroupTile(QWeightType type, const uint8_t* packed, const ActTerms& act, int64_t r0, int nr,
               float* y, int64_t y_stride, int ncols, bool accumulate);

}  // namespace xq::qgemm_avx2
