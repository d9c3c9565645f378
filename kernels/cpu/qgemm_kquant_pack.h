// K-quant superblocks (Q4_K, Q6_K) to and from the packed layout of qgemm_layout.h. Scalar: it
// runs once per matrix at load (or per call for unpacked weights) and is exact both ways.
#pragma once

#include <cstdint>

#include "kernels/include/qgemm.h"

namespace xq::qgemm_kquant {

// Packs GGML rows 0 .. ncols - 1 of `rows` (each nb / 8 superblocks; ncols <= kGroupCols, the
// missing outputs become all-zero blocks) into one packed group over nb 32-blocks.
void PackGroup(QWeightType type, const uint8_t* rows, int64_t nb, int ncols, uint8_t* packed);

// Output `lane` of a packed group back to its nb / 8 GGML superblocks, byte for byte.
void UnpackRow(QWeightType type, const uint8_t* group, int64_t nb, int lane, uint8_t* blocks);

}  // namespace xq::qgemm_kquant
