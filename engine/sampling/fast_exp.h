// Vectorizable exp for softmax over a vocabulary: std::exp is a scalar libm call per token,
// several times slower than the rest of a sampling step on a 50K vocabulary.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace xq {

inline constexpr float kExpFloor = -87.0f;  // exp below it is treated as 0

// exp(x) for kExpFloor <= x <= 0 with about 1e-7 relative error (Cephes expf); exactly 0 at
// kExpFloor. Callers clamp first: GCC does not vectorize a clamp fused with this.
inline float ExpClamped(float x) {
  // Round to nearest by truncating (towards zero) a non-positive value shifted down by a half.
  const int32_t ni = static_cast<int32_t>(x * 1.44269504088896341f - 0.5f);
  const float n = static_cast<float>(ni);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // two-part ln 2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((ni + 127) << 23);
  const float keep = x > kExpFloor ? 1.0f : 0.0f;
  return e * scale * keep;
}

// out[i] = exp((logits[i] - shift) * scale), with shift >= every logit, so -inf gives exactly 0.
// Returns the sum of out.
inline double ExpShifted(std::span<const float> logits, float shift, float scale,
                         float* __restrict out) {
  const size_t n = logits.size();
  const float* __restrict in = logits.data();
  for (size_t i = 0; i < n; ++i) {
    const float x = (in[i] - shift) * scale;
    out[i] = x < kExpFloor ? kExpFloor : x;
  }
  constexpr size_t kLanes = 16;  // independent partial sums so the reduction vectorizes
  double lanes[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      out[i + j] = ExpClamped(out[i + j]);
      lanes[j] += out[i + j];
    }
  }
  double sum = 0.0;
  for (; i < n; ++i) {
    out[i] = ExpClamped(out[i]);
    sum += out[i];
  }
  for (double l : lanes) sum += l;
  return sum;
}

}  // namespace xq
