// The GGML blocks of matrices the CUDA runner keeps quantized (Q4_0, Q4_1, Q8_0:
// kernels/include/ggml_blocks.h), decoded on the device with engine/model/dequantize.cpp's fp32
// arithmetic, so a decoded value is bitwise the host's: each quant times its scale is exact in
// fp32 (at most 8 x 11 significant bits), so a fused multiply-add rounds Q4_1's "+ m" as the
// host's separate add does.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/qgemm.h"

namespace xq::cuda {

// Calls f(std::integral_constant<QWeightType, T>{}) for the runtime `type`: how a launcher picks
// the kernel instantiated for its block type.
template <typename F>
void ForQWeightType(QWeightType type, F f) {
  switch (type) {
    case QWeightType::kQ4_0:
      return f(std::integral_constant<QWeightType, QWeightType::kQ4_0>{});
    case QWeightType::kQ4_1:
      return f(std::integral_constant<QWeightType, QWeightType::kQ4_1>{});
    case QWeightType::kQ8_0:
      return f(std::integral_constant<QWeightType, QWeightType::kQ8_0>{});
  }
}

__host__ __device__ inline constexpr int64_t QBlockBytes(QWeightType t) {
  return t == QWeightType::kQ8_0 ? 34 : t == QWeightType::kQ4_1 ? 20 : 18;
}

// The 32 values of the block at b. Q4: element j < 16 is qs[j]'s low nibble, j + 16 its high.
template <QWeightType T>
__device__ __forceinline__ void DecodeQBlock(const uint8_t* b, float* v) {
  const float d = LoadHalf(b);
  if constexpr (T == QWeightType::kQ8_0) {
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock; ++j)
      v[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  } else if constexpr (T == QWeightType::kQ4_1) {
    const float m = LoadHalf(b + 2);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      v[j] = static_cast<float>(b[4 + j] & 0xf) * d + m;
      v[j + kGgmlBlock / 2] = static_cast<float>(b[4 + j] >> 4) * d + m;
    }
  } else {
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      v[j] = static_cast<float>((b[2 + j] & 0xf) - 8) * d;
      v[j + kGgmlBlock / 2] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
    }
  }
}

}  // namespace xq::cuda
