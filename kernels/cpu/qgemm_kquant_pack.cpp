// K-quant superblocks to and from the packed layout: each 32-value sub-block's codes go through an
// int array in value order, so the GGML bit layouts (Q4KCode, Q6KBitsOf) and the packed one
// (PutCodes, GetCodes) meet only there.
#include "kernels/cpu/qgemm_kquant_pack.h"

#include <cstring>

#include "kernels/cpu/qgemm_layout.h"
#include "kernels/include/ggml_blocks.h"

namespace xq::qgemm_kquant {
namespace {

using qgemm_layout::kBlocksPerSuper;
using qgemm_layout::kGroupCols;
using qgemm_layout::kPlaneBytes;
using qgemm_layout::kVectorBytes;
using qgemm_layout::PackedBlockBytes;
using qgemm_layout::PackedSuperBytes;

// Byte k of output c's 4-byte slot in plane vector t.
uint8_t& PlaneByte(uint8_t* plane, int t, int c, int k) {
  return plane[t * kVectorBytes + c * 4 + k];
}

// Writes the 32 codes (each < 64) of output c into one packed 32-block: their low 4 bits into the
// Q4 plane, for Q6_K their top 2 bits into the high plane (OR-ed: the block starts zeroed).
void PutCodes(QWeightType type, const int* q, int c, uint8_t* blk) {
  for (int t = 0; t < 4; ++t) {
    for (int k = 0; k < 4; ++k) {
      const int lo = q[4 * t + k], hi = q[16 + 4 * t + k];
      PlaneByte(blk, t, c, k) = static_cast<uint8_t>((lo & 15) | (hi & 15) << 4);
      if (type != QWeightType::kQ6_K) continue;
      const int shift = 4 * (t % 2);
      PlaneByte(blk + kPlaneBytes, t / 2, c, k) |=
          static_cast<uint8_t>((lo >> 4) << shift | (hi >> 4) << (shift + 2));
    }
  }
}
// Reads back what PutCodes wrote.
void GetCodes(QWeightType type, const uint8_t* blk, int c, int* q) {
  for (int t = 0; t < 4; ++t) {
    for (int k = 0; k < 4; ++k) {
      const uint8_t byte = blk[t * kVectorBytes + c * 4 + k];
      q[4 * t + k] = byte & 15;
      q[16 + 4 * t + k] = byte >> 4;
      if (type != QWeightType::kQ6_K) continue;
      const int high = blk[kPlaneBytes + t / 2 * kVectorBytes + c * 4 + k] >> (4 * (t % 2));
      q[4 * t + k] |= (high & 3) << 4;
      q[16 + 4 * t + k] |= (high >> 2 & 3) << 4;
    }
  }
}

// Inverse of KQuantScaleMin: sub-block `sub`'s 6-bit scale and min into the 12 scale bytes
// (which start zeroed).
void SetKQuantScaleMin(int sub, int scale, int min, uint8_t* scales) {
  if (sub < 4) {
    scales[sub] |= static_cast<uint8_t>(scale);
    scales[sub + 4] |= static_cast<uint8_t>(min);
  } else {
    scales[sub + 4] = static_cast<uint8_t>((scale & 15) | (min & 15) << 4);
    scales[sub - 4] |= static_cast<uint8_t>((scale >> 4) << 6);
    scales[sub] |= static_cast<uint8_t>((min >> 4) << 6);
  }
}

void PackSuperBlock(QWeightType type, const uint8_t* src, int c, uint8_t* blocks, uint8_t* tail) {
  auto* halves = reinterpret_cast<uint16_t*>(tail);
  int q[kGgmlBlock];
  for (int j = 0; j < kBlocksPerSuper; ++j) {
    uint8_t* blk = blocks + j * PackedBlockBytes(type);
    uint8_t* scales = blk + qgemm_layout::PackedScalesOffset(type);
    if (type == QWeightType::kQ4_K) {
      const auto& w = *reinterpret_cast<const BlockQ4_K*>(src);
      for (int i = 0; i < kGgmlBlock; ++i) q[i] = Q4KCode(w, kGgmlBlock * j + i);
      int sc, m;
      KQuantScaleMin(j, w.scales, &sc, &m);
      scales[c] = static_cast<uint8_t>(sc);
      scales[kGroupCols + c] = static_cast<uint8_t>(m);
      halves[c] = w.d;
      halves[kGroupCols + c] = w.dmin;
    } else {
      const auto& w = *reinterpret_cast<const BlockQ6_K*>(src);
      for (int i = 0; i < kGgmlBlock; ++i) q[i] = Q6KCode(w, kGgmlBlock * j + i);
      scales[c] = static_cast<uint8_t>(w.scales[2 * j]);
      scales[kGroupCols + c] = static_cast<uint8_t>(w.scales[2 * j + 1]);
      halves[c] = w.d;
    }
    PutCodes(type, q, c, blk);
  }
}

void UnpackSuperBlock(QWeightType type, const uint8_t* blocks, const uint8_t* tail, int c,
                      uint8_t* dst) {
  const auto* halves = reinterpret_cast<const uint16_t*>(tail);
  int q[kGgmlBlock];
  if (type == QWeightType::kQ4_K) {
    BlockQ4_K w{};
    w.d = halves[c];
    w.dmin = halves[kGroupCols + c];
    for (int j = 0; j < kBlocksPerSuper; ++j) {
      const uint8_t* blk = blocks + j * PackedBlockBytes(type);
      GetCodes(type, blk, c, q);
      for (int i = 0; i < kGgmlBlock; ++i) {
        const int v = kGgmlBlock * j + i;
        w.qs[32 * (v / 64) + v % 32] |= static_cast<uint8_t>(q[i] << (4 * (v / 32 % 2)));
      }
      const uint8_t* scales = blk + qgemm_layout::PackedScalesOffset(type);
      SetKQuantScaleMin(j, scales[c], scales[kGroupCols + c], w.scales);
    }
    std::memcpy(dst, &w, sizeof(w));
    return;
  }
  BlockQ6_K w{};
  w.d = halves[c];
  for (int j = 0; j < kBlocksPerSuper; ++j) {
    const uint8_t* blk = blocks + j * PackedBlockBytes(type);
    GetCodes(type, blk, c, q);
    for (int i = 0; i < kGgmlBlock; ++i) {
      const Q6KBits at = Q6KBitsOf(kGgmlBlock * j + i);
      w.ql[at.ql] |= static_cast<uint8_t>((q[i] & 15) << at.ql_shift);
      w.qh[at.qh] |= static_cast<uint8_t>((q[i] >> 4) << at.qh_shift);
    }
    const uint8_t* scales = blk + qgemm_layout::PackedScalesOffset(type);
    w.scales[2 * j] = static_cast<int8_t>(scales[c]);
    w.scales[2 * j + 1] = static_cast<int8_t>(scales[kGroupCols + c]);
  }
  std::memcpy(dst, &w, sizeof(w));
}

}  // namespace

void PackGroup(QWeightType type, const uint8_t* rows, int64_t nb, int ncols, uint8_t* packed) {
  const int64_t supers = nb / kBlocksPerSuper;
  const size_t super_blocks_bytes = kBlocksPerSuper * PackedBlockBytes(type);
  uint8_t* tail = packed + nb * PackedBlockBytes(type);
  // Missing outputs and the high plane's OR-ed bits start from zero.
  std::memset(packed, 0, qgemm_layout::PackedGroupBytes(type, nb));
  for (int c = 0; c < ncols; ++c) {
    const uint8_t* row = rows + c * supers * QWeightBlockBytes(type);
    for (int64_t s = 0; s < supers; ++s) {
      PackSuperBlock(type, row + s * QWeightBlockBytes(type), c, packed + s * super_blocks_bytes,
                     tail + s * PackedSuperBytes(type));
    }
  }
}

void UnpackRow(QWeightType type, const uint8_t* group, int64_t nb, int lane, uint8_t* blocks) {
  const int64_t supers = nb / kBlocksPerSuper;
  const uint8_t* tail = group + nb * PackedBlockBytes(type);
  for (int64_t s = 0; s < supers; ++s) {
    UnpackSuperBlock(type, group + s * kBlocksPerSuper * PackedBlockBytes(type),
                     tail + s * PackedSuperBytes(type), lane, blocks + s * QWeightBlockBytes(type));
  }
}

}  // namespace xq::qgemm_kquant
