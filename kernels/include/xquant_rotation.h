// The KV rotation of the XQuant format: an orthogonal randomized Hadamard transform applied to
// every head vector before it is cached. Low-bit groups lose most to a few outlier channels; a
// Hadamard transform spreads each outlier over all channels of its block, so min-max groups of
// rotated data are tighter (QuaRot, SpinQuant). Attention is unchanged by an orthogonal R:
//   keys:   q·k = (R q)·(R k)           the query is rotated once per token and head;
//   values: Σ p_t v_t = R⁻¹ Σ p_t (R v_t)  the output is rotated back once per token and head.
// So rotation lives outside the attention and quantize kernels: the runner rotates K (after
// RoPE), V and Q before they reach the cache, and the attention output after.
//
// Definition (the byte format depends on it, docs/KV_FORMAT.md): a head of D channels splits into
// blocks of n = D & -D channels (the largest power of two dividing D); each block is
//   y = H_n (s ⊙ x) / sqrt(n)
// with H_n the Sylvester Hadamard matrix (H_1 = [1], H_2m = [[H_m, H_m], [H_m, -H_m]]) and s the
// sign of channel c (c counted from the start of the head): RotationSign(c) below. The inverse is
// x = s ⊙ (H_n y) / sqrt(n), since H_n H_n = n I.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/include/device_safe.h"

namespace xq {

// Channel c's sign: the top bit of a fixed integer hash of c (lowbias32), +1 or -1. Random-looking
// signs keep the transform from lining up with structured activations (QuaRot's randomized
// Hadamard); a hash makes them part of the format with no table to ship.
XQ_HOST_DEVICE inline float RotationSign(uint32_t c) {
  uint32_t x = c + 0x9E3779B9u;
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return (x >> 31) ? -1.0f : 1.0f;
}

// Channels per Hadamard block of a head of `head_dim` channels.
XQ_HOST_DEVICE inline int64_t RotationBlock(int64_t head_dim) { return head_dim & -head_dim; }

// In-place fast Walsh-Hadamard transform of n = 2^k values (unnormalized: x <- H_n x).
XQ_HOST_DEVICE inline void WalshHadamard(float* x, int64_t n) {
  for (int64_t len = 1; len < n; len *= 2) {
    for (int64_t i = 0; i < n; i += 2 * len) {
      for (int64_t j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
    }
  }
}

// Rotates one head vector in place: forward (into the cache basis) or back.
XQ_HOST_DEVICE inline void RotateHead(float* x, int64_t head_dim, bool inverse) {
  const int64_t n = RotationBlock(head_dim);
  const float norm = 1.0f / sqrtf(static_cast<float>(n));
  for (int64_t b = 0; b < head_dim; b += n) {
    float* v = x + b;
    if (!inverse) {
      for (int64_t i = 0; i < n; ++i) v[i] *= RotationSign(static_cast<uint32_t>(b + i));
    }
    WalshHadamard(v, n);
    for (int64_t i = 0; i < n; ++i) {
      v[i] *= inverse ? norm * RotationSign(static_cast<uint32_t>(b + i)) : norm;
    }
  }
}

}  // namespace xq
