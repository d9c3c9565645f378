// AVX-512 VNNI microkernel of the quantized matmul (vpdpbusd on 16 interleaved output features);
// callers check the CPU first (see qgemm.cpp). Packing and activation terms are the AVX2 file's.
#pragma once

#include <cstdint>

#include "kernels/cpu/qgemm_avx2.h"

namespace xq::qgemm_avx512 {

// Activation rows one microkernel call serves from each packed weight load.
inline constexpr int kTileRows = 8;

// As qgemm_avx2::GroupTile, with nr <= kTileRows.
void GroupTile(QWeightType type, const uint8_t* packed, const qgemm_avx2::ActTerms& act, int64_t r0,
               int nr, float* y, int64_t y_stride, int ncols, bool accumulate);

}  // namespace xq::qgemm_avx512
