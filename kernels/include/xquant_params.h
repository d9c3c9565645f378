// 8-bit group params (param_bits 8 in xquant_format.h): what makes finer groups affordable.
//
// fp16 {s, z} pairs cost 32 bits per group, a full bit per element at 32-element groups. With
// param_bits 8 each head of a slot stores one base and one byte pair per group:
//
//   base  {s0, z0, zstep, 0} fp32 (16 bytes)       pair {s8, z8} uint8
//   s = s0 * MiniFloat(s8)      MiniFloat(k) = (32 + k % 32) * 2^(k / 32), 32 .. 8064
//   z = z0 + z8 * zstep         zstep a power of two
//
// The scale byte is a small float (3-bit exponent, 5-bit mantissa): every scale within a factor
// of 252 below the head's largest keeps a relative step of at most 1/32, whatever the spread of
// ranges across channels. The zero point byte is linear over the head's [min z, max z]; a power
// of two step keeps z8 * zstep exact, so a fused or unfused multiply-add gives the same z on
// every device. Both bytes round to nearest. Codes are still computed from the group's own fp32
// quantizer (as with fp16 params, where rounding to fp16 is the same kind of perturbation), so
// the quantizer and its calibration are unchanged; only how the calibrated pair is stored is.
//
// Every function here is plain IEEE arithmetic in a fixed order, so the CPU reference, the SIMD
// quantizer and the CUDA kernel write the same bytes, provided that the file compiling the
// quantizer does not contract z + eta * s * levels into a fused multiply-add (xq_kernels builds
// with -ffp-contract=off, the CUDA quantizer with --fmad=false). The decoders are exact either
// way: s0 * MiniFloat is one product, and z8 * zstep is exact.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "kernels/include/device_safe.h"

namespace xq {

inline constexpr int kMiniFloatMin = 32;    // MiniFloat(0)
inline constexpr int kMiniFloatMax = 8064;  // MiniFloat(255) = 63 * 2^7
inline constexpr int64_t kParamBaseBytes = 16;

struct ParamPair {
  float s, z;
};

struct ParamBase {
  float s0 = 0.0f, z0 = 0.0f, zstep = 1.0f;
};

XQ_HOST_DEVICE inline float MiniFloat(int k) {
  return static_cast<float>((32 + (k & 31)) << (k >> 5));
}

// The calibrated pair of a group with uncalibrated s, z (xquant_format.h): the levels move
// inwards by eta of the range.
XQ_HOST_DEVICE inline ParamPair CalibratedPair(float s, float z, int levels, float eta) {
  const float span = eta * s * static_cast<float>(levels);
  return {(1.0f - 2.0f * eta) * s, z + span};
}

// Running extent of one head's calibrated pairs, from which its base is fitted.
struct ParamExtent {
  float smax = 0.0f, zmin = 0.0f, zmax = 0.0f;
  bool empty = true;

  XQ_HOST_DEVICE void Add(ParamPair p) {
    if (empty) {
      smax = p.s, zmin = p.z, zmax = p.z, empty = false;
      return;
    }
    smax = smax < p.s ? p.s : smax;
    zmin = p.z < zmin ? p.z : zmin;
    zmax = zmax < p.z ? p.z : zmax;
  }
};

// s0 puts the largest scale at the top byte; zstep is the smallest power of two that spans
// [zmin, zmax] in 254 steps (one spare so rounding never leaves the byte).
XQ_HOST_DEVICE inline ParamBase FitParamBase(const ParamExtent& e) {
  ParamBase b;
  b.s0 = e.smax / static_cast<float>(kMiniFloatMax);
  b.z0 = e.zmin;
  const float step = (e.zmax - e.zmin) / 254.0f;
  if (step > 0.0f) {
    int exponent = 0;
    const float mantissa = frexpf(step, &exponent);  // step = mantissa * 2^exponent
    b.zstep = mantissa == 0.5f ? step : ldexpf(1.0f, exponent);
  }
  return b;
}

// Nearest MiniFloat code to r = s / s0, clamped to [0, 255].
XQ_HOST_DEVICE inline int EncodeMiniFloat(float r) {
  if (!(r > static_cast<float>(kMiniFloatMin))) return 0;  // also NaN and s0 == 0
  if (r >= static_cast<float>(kMiniFloatMax)) return 255;
  int exponent = 0;
  frexpf(r / 32.0f, &exponent);  // r / 32 in [2^(exponent-1), 2^exponent)
  int e = exponent - 1;          // 0 .. 7 here
  const float mantissa = rintf(r / ldexpf(1.0f, e)) - 32.0f;  // exact scaling, then rounding
  int m = static_cast<int>(mantissa);
  if (m == 32) m = 0, ++e;
  return e > 7 ? 255 : e * 32 + m;
}

XQ_HOST_DEVICE inline int EncodeZero(const ParamBase& b, float z) {
  const float k = rintf((z - b.z0) / b.zstep);
  return static_cast<int>(k < 0.0f ? 0.0f : 255.0f < k ? 255.0f : k);
}

XQ_HOST_DEVICE inline void StoreParamBase(const ParamBase& b, uint8_t* head) {
  const float words[4] = {b.s0, b.z0, b.zstep, 0.0f};
  memcpy(head, words, sizeof words);
}

XQ_HOST_DEVICE inline ParamBase LoadParamBase(const uint8_t* head) {
  float words[3];
  memcpy(words, head, sizeof words);
  return {words[0], words[1], words[2]};
}

// Stores group i's calibrated pair in 8-bit form after its head's base.
XQ_HOST_DEVICE inline void StoreParamPair8(const ParamBase& b, ParamPair p, uint8_t* head,
                                           int64_t i) {
  uint8_t* at = head + kParamBaseBytes + i * 2;
  at[0] = static_cast<uint8_t>(b.s0 > 0.0f ? EncodeMiniFloat(p.s / b.s0) : 0);
  at[1] = static_cast<uint8_t>(EncodeZero(b, p.z));
}

// Group i's pair as decoded from the 8-bit form.
XQ_HOST_DEVICE inline ParamPair LoadParamPair8(const ParamBase& b, const uint8_t* head,
                                               int64_t i) {
  const uint8_t* at = head + kParamBaseBytes + i * 2;
  return {b.s0 * MiniFloat(at[0]), b.z0 + static_cast<float>(at[1]) * b.zstep};
}

}  // namespace xq
