// The GGML blocks of matrices the CUDA runner keeps quantized, decoded on the device 32 values (a
// group) at a time: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 blocks are one group each
// (kernels/include/ggml_blocks.h); Q4_K, Q5_K and Q6_K super-blocks are 256 values, eight groups
// sharing the block's fp16 scales. The arithmetic is engine/model/dequantize.cpp's fp32, so a
// decoded value is bitwise the host's: every product that an add follows is exact in fp32 (a quant
// of at most 5 bits times an fp16 scale times a 6-bit sub-block scale: at most 22 significant
// bits), so whether a compiler fuses the add into a multiply-add or not, it rounds once as the
// host's separate add does (Q8_0, Q4_0, Q5_0 and Q6_K values are products alone, formed in the
// host's order).
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/include/ggml_type.h"

namespace xq::cuda {

// Calls f(std::integral_constant<GgmlType, T>{}) for the runtime `type`: how a launcher picks the
// kernel instantiated for its block type. Throws std::invalid_argument for a type the device
// does not decode (the types of ops.h's DeviceDecodes).
template <typename F>
void ForDeviceBlockType(GgmlType type, F f) {
  using T = GgmlType;
  switch (type) {
    case T::kQ4_0:
      return f(std::integral_constant<T, T::kQ4_0>{});
    case T::kQ4_1:
      return f(std::integral_constant<T, T::kQ4_1>{});
    case T::kQ5_0:
      return f(std::integral_constant<T, T::kQ5_0>{});
    case T::kQ5_1:
      return f(std::integral_constant<T, T::kQ5_1>{});
    case T::kQ8_0:
      return f(std::integral_constant<T, T::kQ8_0>{});
    case T::kQ4_K:
      return f(std::integral_constant<T, T::kQ4_K>{});
    case T::kQ5_K:
      return f(std::integral_constant<T, T::kQ5_K>{});
    case T::kQ6_K:
      return f(std::integral_constant<T, T::kQ6_K>{});
    default:
      throw std::invalid_argument("quantized weights: the device does not decode this type");
  }
}

// Values and bytes of one block of type t (one the device decodes).
__host__ __device__ inline constexpr int64_t QBlockValues(GgmlType t) {
  return t == GgmlType::kQ4_K || t == GgmlType::kQ5_K || t == GgmlType::kQ6_K ? 256 : kGgmlBlock;
}
__host__ __device__ inline constexpr int64_t QBlockBytes(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_1:
      return 20;
    case GgmlType::kQ5_0:
      return 22;
    case GgmlType::kQ5_1:
      return 24;
    case GgmlType::kQ8_0:
      return 34;
    case GgmlType::kQ4_K:
      return 144;
    case GgmlType::kQ5_K:
      return 176;
    case GgmlType::kQ6_K:
      return 210;
    default:
      return 18;  // Q4_0
  }
}
// Bytes of `values` consecutive values of a row (a multiple of the block's values).
__host__ __device__ inline constexpr int64_t QRowBytes(GgmlType t, int64_t values) {
  return values / QBlockValues(t) * QBlockBytes(t);
}

// Q4_K / Q5_K: the 6-bit scale and min of group g (0-7) packed in 12 bytes: groups 0-3 in the low
// 6 bits of bytes g and g + 4; groups 4-7 take their low 4 bits from byte g + 4 (scale: low
// nibble, min: high nibble) and their top 2 bits from the top bits of bytes g - 4 and g.
__device__ __forceinline__ void ScaleMinK4(int g, const uint8_t* q, float* scale, float* min) {
  const int s = g < 4 ? q[g] & 63 : (q[g + 4] & 0xf) | ((q[g - 4] >> 6) << 4);
  const int m = g < 4 ? q[g + 4] & 63 : (q[g + 4] >> 4) | ((q[g] >> 6) << 4);
  *scale = static_cast<float>(s);
  *min = static_cast<float>(m);
}

// The 5th bits of a Q5_0 / Q5_1 block: bit j of the little-endian u32 at p is element j's (read
// byte by byte: blocks of 22 bytes leave it unaligned).
__device__ __forceinline__ uint32_t LoadQ5HighBits(const uint8_t* p) {
  return p[0] | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// The 32 values of group g of the block at b. Q4_0/Q4_1: element j < 16 is qs[j]'s low nibble,
// j + 16 its high; Q5_0/Q5_1 add bit j of qh as element j's 5th bit. Q4_K: group g's quants are the
// nibbles (low for even g) of qs[32 (g / 2) + l], value (d sc) q - (dmin m); Q5_K adds bit g of
// qh[l] as the 5th bit. Q6_K (ql[128] qh[64] scales[16] d): in 128-value half h = g / 4, part p = g
// % 4, value l's low 4 bits are a nibble (low for p < 2) of ql[64 h + 32 (p % 2) + l], its top 2
// bits 2p.. of qh[32 h + l], and each 16 values have an int8 scale; value (d scale) (q - 32).
template <GgmlType T>
__device__ __forceinline__ void DecodeQGroup(const uint8_t* b, int g, float* v) {
  if constexpr (T == GgmlType::kQ8_0) {
    const float d = LoadHalf(b);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock; ++j)
      v[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  } else if constexpr (T == GgmlType::kQ4_1) {
    const float d = LoadHalf(b), m = LoadHalf(b + 2);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      v[j] = static_cast<float>(b[4 + j] & 0xf) * d + m;
      v[j + kGgmlBlock / 2] = static_cast<float>(b[4 + j] >> 4) * d + m;
    }
  } else if constexpr (T == GgmlType::kQ5_0 || T == GgmlType::kQ5_1) {
    constexpr bool kMin = T == GgmlType::kQ5_1;  // Q5_1: value q d + m; Q5_0: (q - 16) d
    const float d = LoadHalf(b), m = kMin ? LoadHalf(b + 2) : 0.0f;
    const uint32_t qh = LoadQ5HighBits(b + (kMin ? 4 : 2));
    const uint8_t* qs = b + (kMin ? 8 : 6);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      const int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
      const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      if constexpr (kMin) {
        v[j] = static_cast<float>(lo) * d + m;
        v[j + kGgmlBlock / 2] = static_cast<float>(hi) * d + m;
      } else {
        v[j] = static_cast<float>(lo - 16) * d;
        v[j + kGgmlBlock / 2] = static_cast<float>(hi - 16) * d;
      }
    }
  } else if constexpr (T == GgmlType::kQ4_0) {
    const float d = LoadHalf(b);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      v[j] = static_cast<float>((b[2 + j] & 0xf) - 8) * d;
      v[j + kGgmlBlock / 2] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
    }
  } else if constexpr (T == GgmlType::kQ4_K || T == GgmlType::kQ5_K) {
    float sc, m;
    ScaleMinK4(g, b + 4, &sc, &m);
    const float dl = LoadHalf(b) * sc, ml = LoadHalf(b + 2) * m;
    const uint8_t* qs = b + (T == GgmlType::kQ4_K ? 16 : 48) + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    XQ_UNROLL
    for (int l = 0; l < kGgmlBlock; ++l) {
      int q = (qs[l] >> shift) & 0xf;
      if constexpr (T == GgmlType::kQ5_K) q |= ((b[16 + l] >> g) & 1) << 4;
      v[l] = dl * static_cast<float>(q) - ml;
    }
  } else {
    static_assert(T == GgmlType::kQ6_K);
    const int h = g / 4, p = g % 4;
    const uint8_t* ql = b + 64 * h + 32 * (p % 2);
    const uint8_t* qh = b + 128 + 32 * h;
    const float d = LoadHalf(b + 208);
    XQ_UNROLL
    for (int l = 0; l < kGgmlBlock; ++l) {
      const int lo = p < 2 ? ql[l] & 0xf : ql[l] >> 4;
      const int hi = (qh[l] >> (2 * p)) & 3;
      const float dl = d * static_cast<float>(static_cast<int8_t>(b[192 + 2 * g + l / 16]));
      v[l] = dl * static_cast<float>((lo | (hi << 4)) - 32);
    }
  }
}

// The 32 values of group `group` of a row of blocks starting at `row` (groups count from the
// row's first value in steps of 32).
template <GgmlType T>
__device__ __forceinline__ void DecodeRowGroup(const uint8_t* row, int64_t group, float* v) {
  constexpr int64_t kGroups = QBlockValues(T) / kGgmlBlock;
  DecodeQGroup<T>(row + group / kGroups * QBlockBytes(T), static_cast<int>(group % kGroups), v);
}

}  // namespace xq::cuda
