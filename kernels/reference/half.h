// IEEE binary16 (half) and bfloat16 <-> fp32 conversions, bit-exact and portable (no F16C needed).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace xq {

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in fp32.
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -mag : mag;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

// Round to nearest, ties to even; overflow gives inf; NaN stays NaN (quiet, top payload bits kept).
inline uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) return sign | 0x7e00 | ((ax >> 13) & 0x3ff);
  if (ax >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds past the largest half, 65504
  if (ax >= 0x38800000) {                      // normal half: >= 2^-14
    const uint32_t mant = ax & 0x7fffff;
    uint32_t h = ((((ax >> 23) - 127 + 15) << 10) | (mant >> 13));
    const uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is right
    return sign | static_cast<uint16_t>(h);
  }
  if (ax <= 0x33000000) return sign;  // <= 2^-25: rounds to (signed) zero
  // Subnormal half: value / 2^-24 rounded to an integer; may round up to the smallest normal.
  const uint32_t mant = (ax & 0x7fffff) | 0x800000;
  const uint32_t shift = 126 - (ax >> 23);  // 14..24
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (h & 1))) ++h;
  return sign | static_cast<uint16_t>(h);
}

// Stores f as fp16 at p (any alignment, little-endian as GGML blocks hold it); returns the value
// stored.
inline float StoreHalfAt(uint8_t* p, float f) {
  const uint16_t h = FloatToHalf(f);
  std::memcpy(p, &h, sizeof(h));
  return HalfToFloat(h);
}

// The fp16 at p (any alignment, little-endian as GGML blocks hold it) as fp32.
inline float LoadHalfAt(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return HalfToFloat(h);
}

inline float Bf16ToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

// Round to nearest, ties to even (as ggml's fp32->bf16); NaN is forced quiet.
inline uint16_t FloatToBf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

}  // namespace xq
