// The packed weight layout of the quantized matmul's SIMD kernels (QGemm with packed weights, and
// the per-call packing of GGML blocks): groups of kGroupCols output features. Per group and
// 32-block: Planes code planes of four vectors of kVectorBytes; vector t of plane p holds, for
// every output in order, bytes 16p + 4t .. 16p + 4t + 3 of its GGML block's qs (Q4: bytes whose
// low nibbles are codes 4t.. and high nibbles codes 16 + 4t..; Q8_0: signed codes 16p + 4t..);
// then the kGroupCols fp16 scales, then (Q4_1) the fp16 mins. Exactly the bytes of the GGML
// blocks, rearranged: nothing is lost, and a row can be turned back into its GGML blocks
// (UnpackQWeightRow).
#pragma once

#include <cstddef>

#include "kernels/include/qgemm.h"

namespace xq::qgemm_layout {

inline constexpr int kGroupCols = 16;
inline constexpr int kVectorBytes = 4 * kGroupCols;
inline constexpr int kPlaneBytes = 4 * kVectorBytes;

constexpr int Planes(QWeightType t) { return t == QWeightType::kQ8_0 ? 2 : 1; }
constexpr int HalvesPerOutput(QWeightType t) { return t == QWeightType::kQ4_1 ? 2 : 1; }
constexpr size_t PackedBlockBytes(QWeightType t) {
  return Planes(t) * kPlaneBytes + HalvesPerOutput(t) * kGroupCols * sizeof(uint16_t);
}

}  // namespace xq::qgemm_layout
