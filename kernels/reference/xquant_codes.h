// Scalar access to the XQuant block format's packed codes and fp16 {s, z} params, shared by the
// reference kernels (kernels/reference/xquant_*_reference.cpp).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/include/xquant_params.h"

namespace xq::xqref {

// Code i of a packed string sits at bit i * bits; bits in {1, 2, 4, 8} never straddle a byte.
inline int GetCode(const uint8_t* codes, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (codes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

// The string must have been zeroed first.
inline void PutCode(uint8_t* codes, int64_t i, int bits, int code) {
  const int64_t bit = i * bits;
  codes[bit >> 3] = static_cast<uint8_t>(codes[bit >> 3] | (code << (bit & 7)));
}

// memcpy keeps byte-addressed block sections free of aliasing questions.
inline float LoadHalf(const uint8_t* p) {
  _Float16 h;
  std::memcpy(&h, p, sizeof h);
  return static_cast<float>(h);
}

inline void StoreHalf(uint8_t* p, _Float16 h) { std::memcpy(p, &h, sizeof h); }

// One {s, z} pair as stored (already calibrated).
struct ScaleZero {
  float s, z;
};

inline ScaleZero LoadScaleZero(const uint8_t* p) { return {LoadHalf(p), LoadHalf(p + 2)}; }

// Group i's pair within one head's params (head points at the head's first byte), fp16 or 8-bit.
inline ScaleZero LoadGroupParams(const uint8_t* head, int param_bits, int64_t i) {
  if (param_bits != 8) return LoadScaleZero(head + i * 4);
  const ParamPair p = LoadParamPair8(LoadParamBase(head), head, i);
  return {p.s, p.z};
}

}  // namespace xq::xqref
