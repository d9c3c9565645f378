// The packed weight layout of the quantized matmul's SIMD kernels (QGemm with packed weights, and
// the per-call packing of GGML blocks): groups of kGroupCols output features. Per group and
// 32-block: Planes code planes of four vectors of kVectorBytes; vector t of plane p holds, for
// every output in order, bytes 16p + 4t .. 16p + 4t + 3 of its GGML block's qs (Q4: bytes whose
// low nibbles are codes 4t.. and high nibbles codes 16 + 4t..; Q8_0: signed codes 16p + 4t..);
// then the kGroupCols fp16 scales, then (Q4_1) the fp16 mins. Exactly the bytes of the GGML
// blocks, rearranged (K-quants: the same codes and scales, Q4_K's 6-bit ones as bytes): nothing
// is lost, and a row can be turned back into its GGML blocks (UnpackQWeightRow).
//
// K-quants keep their superblock's scales once per 8 32-blocks, after all the group's blocks
// (the group's tail). Their 32-blocks hold the 32 codes of one sub-block in Q4 plane order:
//   Q4_K: the plane, then the kGroupCols 6-bit scales and the kGroupCols 6-bit mins as bytes;
//         tail per superblock: the kGroupCols fp16 d, then the kGroupCols fp16 dmin.
//   Q6_K: the plane of the codes' low 4 bits; a high plane of two vectors, where vector u's byte
//         for output c and k < 4 holds the top 2 bits of codes 4t + k and 16 + 4t + k at bits
//         4(t - 2u) and 4(t - 2u) + 2 for t = 2u, 2u + 1; the kGroupCols int8 scales of codes
//         0..15 and those of codes 16..31; tail per superblock: the kGroupCols fp16 d.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/include/qgemm.h"

namespace xq::qgemm_layout {

inline constexpr int kGroupCols = 16;
inline constexpr int kVectorBytes = 4 * kGroupCols;
inline constexpr int kPlaneBytes = 4 * kVectorBytes;

inline constexpr int kHighPlaneBytes = 2 * kVectorBytes;  // Q6_K's top 2 bits of 32 codes
inline constexpr int kBlocksPerSuper = 8;                 // 32-blocks per K-quant superblock

constexpr bool IsKQuant(QWeightType t) {
  return t == QWeightType::kQ4_K || t == QWeightType::kQ6_K;
}
constexpr int Planes(QWeightType t) { return t == QWeightType::kQ8_0 ? 2 : 1; }
constexpr int HalvesPerOutput(QWeightType t) { return t == QWeightType::kQ4_1 ? 2 : 1; }
// Bytes of one packed 32-block.
constexpr size_t PackedBlockBytes(QWeightType t) {
  switch (t) {
    case QWeightType::kQ4_K:
      return kPlaneBytes + 2 * kGroupCols;
    case QWeightType::kQ6_K:
      return kPlaneBytes + kHighPlaneBytes + 2 * kGroupCols;
    default:
      return Planes(t) * kPlaneBytes + HalvesPerOutput(t) * kGroupCols * sizeof(uint16_t);
  }
}
// K-quants: offset of a packed block's 8-bit scales (then Q4_K's mins / Q6_K's second scales).
constexpr size_t PackedScalesOffset(QWeightType t) { return PackedBlockBytes(t) - 2 * kGroupCols; }
// K-quants: bytes of the group's tail per superblock (0 for the other types).
constexpr size_t PackedSuperBytes(QWeightType t) {
  return t == QWeightType::kQ4_K   ? 2 * kGroupCols * sizeof(uint16_t)
         : t == QWeightType::kQ6_K ? kGroupCols * sizeof(uint16_t)
                                   : 0;
}
// Bytes of one packed group over nb 32-blocks (a multiple of kBlocksPerSuper for K-quants).
constexpr size_t PackedGroupBytes(QWeightType t, int64_t nb) {
  return nb * PackedBlockBytes(t) + nb / kBlocksPerSuper * PackedSuperBytes(t);
}

}  // namespace xq::qgemm_layout
