// Scalar inverse of the packed weight layout: a row back to its GGML blocks.
#include "kernels/cpu/qgemm_layout.h"

#include <cstring>

#include "kernels/cpu/qgemm_kquant_pack.h"
#include "kernels/include/ggml_blocks.h"

namespace xq {

using qgemm_layout::kGroupCols;
using qgemm_layout::kPlaneBytes;
using qgemm_layout::kVectorBytes;

size_t PackedQWeightBytes(QWeightType type, int64_t out, int64_t in) {
  const int64_t groups = (out + kGroupCols - 1) / kGroupCols;
  return static_cast<size_t>(groups) * qgemm_layout::PackedGroupBytes(type, in / kGgmlBlock);
}

void UnpackQWeightRow(QWeightType type, const void* packed, int64_t in, int64_t row,
                      void* blocks) {
  const int64_t nb = in / kGgmlBlock;
  const int lane = static_cast<int>(row % kGroupCols);
  const size_t block_bytes = qgemm_layout::PackedBlockBytes(type);
  const auto* group = static_cast<const uint8_t*>(packed) +
                      row / kGroupCols * qgemm_layout::PackedGroupBytes(type, nb);
  auto* out = static_cast<uint8_t*>(blocks);
  if (qgemm_layout::IsKQuant(type)) return qgemm_kquant::UnpackRow(type, group, nb, lane, out);
  for (int64_t b = 0; b < nb; ++b, out += QWeightBlockBytes(type)) {
    const uint8_t* blk = group + b * block_bytes;
    // The 16 GGML-order code bytes of this output in plane p.
    auto plane_bytes = [&](int p, uint8_t* qs) {
      for (int t = 0; t < 4; ++t) {
        std::memcpy(qs + 4 * t, blk + p * kPlaneBytes + t * kVectorBytes + lane * 4, 4);
      }
    };
    uint16_t halves[2];
    const uint8_t* scales = blk + qgemm_layout::Planes(type) * kPlaneBytes;
    std::memcpy(&halves[0], scales + lane * 2, 2);
    if (type == QWeightType::kQ4_1) std::memcpy(&halves[1], scales + (kGroupCols + lane) * 2, 2);
    switch (type) {
      case QWeightType::kQ4_0: {
        BlockQ4_0 w;
        w.d = halves[0];
        plane_bytes(0, w.qs);
        std::memcpy(out, &w, sizeof(w));
        break;
      }
      case QWeightType::kQ4_1: {
        BlockQ4_1 w;
        w.d = halves[0];
        w.m = halves[1];
        plane_bytes(0, w.qs);
        std::memcpy(out, &w, sizeof(w));
        break;
      }
      case QWeightType::kQ4_K:
      case QWeightType::kQ6_K:
        break;  // unpacked above
      case QWeightType::kQ8_0: {
        BlockQ8_0 w;
        w.d = halves[0];
        plane_bytes(0, reinterpret_cast<uint8_t*>(w.qs));
        plane_bytes(1, reinterpret_cast<uint8_t*>(w.qs) + 16);
        std::memcpy(out, &w, sizeof(w));
        break;
      }
    }
  }
}

}  // namespace xq
