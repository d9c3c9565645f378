#include "engine/model/dequantize.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/model/cpu_kernel_weights.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/reference/half.h"

// Products and sums are rounded separately (no fused multiply-add) so the results are the same on
// every machine and match gguf-py's numpy reference bit for bit.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace xq {
namespace {

constexpr int kQK = 32;  // elements per block of the Q4_0..Q8_0 family

// Q4_0: d(f16) qs[16]; element j is low nibble of qs[j], element j+16 the high nibble; value
// (q - 8) * d.
void DecodeQ4_0(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>((qs[j] & 0xf) - 8) * d;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

// Q4_1: d(f16) m(f16) qs[16]; value q * d + m.
void DecodeQ4_1(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const float m = LoadHalfAt(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(qs[j] & 0xf) * d + m;
    y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0/Q5_1 5th bits: bit i of the little-endian u32 qh is the high bit of element i.
uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Q5_0: d(f16) qh[4] qs[16]; value (q - 16) * d.
void DecodeQ5_0(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const uint32_t qh = LoadU32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + kQK / 2] = static_cast<float>(hi - 16) * d;
  }
}

// Q5_1: d(f16) m(f16) qh[4] qs[16]; value q * d + m.
void DecodeQ5_1(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const float m = LoadHalfAt(b + 2);
  const uint32_t qh = LoadU32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(lo) * d + m;
    y[j + kQK / 2] = static_cast<float>(hi) * d + m;
  }
}

// Q8_0: d(f16) qs[32] (int8); value q * d.
void DecodeQ8_0(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

// Q4_K: d(f16) dmin(f16) scales[12] qs[128]. Each 64-element chunk c uses qs[32c..32c+31]: low
// nibbles are sub-block 2c, high nibbles sub-block 2c+1; value (d*sc) * q - (dmin*m).
void DecodeQ4_K(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const float dmin = LoadHalfAt(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int c = 0; c < 4; ++c) {
    for (int half = 0; half < 2; ++half) {
      int sc, m;
      KQuantScaleMin(2 * c + half, scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        const int q = (qs[32 * c + l] >> (4 * half)) & 0xf;
        const float prod = dl * static_cast<float>(q);
        y[64 * c + 32 * half + l] = prod - ml;
      }
    }
  }
}

// Q5_K: d(f16) dmin(f16) scales[12] qh[32] qs[128]. As Q4_K, plus the 5th bit of element l of
// sub-block s is bit s of qh[l].
void DecodeQ5_K(const uint8_t* b, float* y) {
  const float d = LoadHalfAt(b);
  const float dmin = LoadHalfAt(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int c = 0; c < 4; ++c) {
    for (int half = 0; half < 2; ++half) {
      const int sub = 2 * c + half;
      int sc, m;
      KQuantScaleMin(sub, scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        const int q = ((qs[32 * c + l] >> (4 * half)) & 0xf) | (((qh[l] >> sub) & 1) << 4);
        const float prod = dl * static_cast<float>(q);
        y[32 * sub + l] = prod - ml;
      }
    }
  }
}

// Q6_K: ql[128] qh[64] scales[16] (int8) d(f16). Per 128-element half h and l in 0..31, four
// elements at offsets l, l+32, l+64, l+96 take their low 4 bits from ql[64h+l] (lo), ql[64h+l+32]
// (lo), ql[64h+l] (hi), ql[64h+l+32] (hi) and their top 2 bits from qh[32h+l] bits 0-1, 2-3, 4-5,
// 6-7; 16-element groups have their own scale; value (d*scale) * (q - 32).
void DecodeQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = LoadHalfAt(b + 208);
  for (int h = 0; h < 2; ++h) {
    for (int part = 0; part < 4; ++part) {
      for (int l = 0; l < 32; ++l) {
        const int idx = 128 * h + 32 * part + l;
        const uint8_t low_byte = ql[64 * h + l + 32 * (part & 1)];
        const int lo = (part < 2) ? (low_byte & 0xf) : (low_byte >> 4);
        const int hi = (qh[32 * h + l] >> (2 * part)) & 3;
        const float dl = d * static_cast<float>(scales[idx / 16]);
        y[idx] = dl * static_cast<float>((lo | (hi << 4)) - 32);
      }
    }
  }
}

template <typename BlockFn>
void ForEachBlock(BlockFn fn, const uint8_t* src, float* dst, int64_t n, int64_t block_elems,
                  int64_t block_bytes) {
  for (int64_t i = 0; i < n / block_elems; ++i) fn(src + i * block_bytes, dst + i * block_elems);
}

}  // namespace

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  const std::string name = GgmlTypeName(static_cast<uint32_t>(type));
  if (info == nullptr || !info->dequantizable) {
    throw Error("DequantizeRow: unsupported tensor type " + name);
  }
  if (n < 0 || n % info->block_elems != 0) {
    throw Error("DequantizeRow: " + std::to_string(n) + " elements is not a whole number of " +
                name + " blocks of " + std::to_string(info->block_elems));
  }
  const auto* p = static_cast<const uint8_t*>(src);
  const int64_t be = info->block_elems, bb = info->block_bytes;
  switch (type) {
    case GgmlType::kF32:
      if (n > 0) std::memcpy(dst, p, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = LoadHalfAt(p + 2 * i);
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, sizeof(v));
        dst[i] = Bf16ToFloat(v);
      }
      return;
    case GgmlType::kQ4_0:
      return ForEachBlock(DecodeQ4_0, p, dst, n, be, bb);
    case GgmlType::kQ4_1:
      return ForEachBlock(DecodeQ4_1, p, dst, n, be, bb);
    case GgmlType::kQ5_0:
      return ForEachBlock(DecodeQ5_0, p, dst, n, be, bb);
    case GgmlType::kQ5_1:
      return ForEachBlock(DecodeQ5_1, p, dst, n, be, bb);
    case GgmlType::kQ8_0:
      return ForEachBlock(DecodeQ8_0, p, dst, n, be, bb);
    case GgmlType::kQ4_K:
      return ForEachBlock(DecodeQ4_K, p, dst, n, be, bb);
    case GgmlType::kQ5_K:
      return ForEachBlock(DecodeQ5_K, p, dst, n, be, bb);
    case GgmlType::kQ6_K:
      return ForEachBlock(DecodeQ6_K, p, dst, n, be, bb);
    default:
      break;
  }
  throw Error("DequantizeRow: unsupported tensor type " + name);
}

void DequantizeMatrixRow(const Tensor& t, int64_t row, float* dst) {
  const int64_t cols = t.cols();
  if (!t.quantized()) {
    std::copy_n(t.data.data() + row * cols, cols, dst);
    return;
  }
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(t.block_type));
  const int64_t row_bytes = cols / info->block_elems * info->block_bytes;
  if (!t.packed) return DequantizeRow(t.block_type, t.blocks.data() + row * row_bytes, dst, cols);
  std::vector<uint8_t> blocks(row_bytes);
  UnpackQWeightRow(QWeightTypeOf(t.block_type), t.blocks.data(), cols, row, blocks.data());
  DequantizeRow(t.block_type, blocks.data(), dst, cols);
}

}  // namespace xq
