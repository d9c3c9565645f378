// The random values of a synthetic model (engine/model/synthetic_model.h), a pure function of
// (seed, stream, index) so that any thread, on the host or on a GPU, computes any element alone
// and both get the same bits: the CUDA runner generates a synthetic model's matrices on the
// device instead of uploading gigabytes generated on the host.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"

namespace xq {

// 64 random bits from (seed, stream, index) alone (SplitMix64's finalizer).
XQ_HOST_DEVICE inline uint64_t SyntheticBits(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + index;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1) on a 2^-23 grid: the product is exact and so is the subtraction, so a fused
// multiply-add gives the same value as separate operations.
XQ_HOST_DEVICE inline float SyntheticNoise(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(SyntheticBits(seed, stream, index) >> 40) * 0x1p-23f - 1.0f;
}

}  // namespace xq
