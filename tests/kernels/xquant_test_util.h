// Test-side decoding of XQuant blocks, written from the format description in
// kernels/include/xquant_format.h without the kernels' own helpers, plus random fp16 data.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/include/xquant_format.h"

namespace xq::xqtest {

// Bit by bit, so that it shares nothing with the kernels' byte-wise unpacking.
inline int UnpackCode(const uint8_t* bytes, int64_t index, int bits) {
  int code = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t k = index * bits + b;
    code |= ((bytes[k / 8] >> (k % 8)) & 1) << b;
  }
  return code;
}

inline double HalfAt(const uint8_t* p) {
  _Float16 h;
  std::memcpy(&h, p, 2);
  return static_cast<double>(h);
}

// One layer of one block decoded to [G][H][D]; mag bounds |code*s| + |z| (the size of the terms
// the kernel adds in fp32), equal to |x| for fp16 slots.
struct DenseLayer {
  std::vector<double> k, v, k_mag, v_mag;
};

inline DenseLayer DecodeLayer(const KvBlockLayout& L, int64_t layer, const uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  DenseLayer out;
  for (auto* x : {&out.k, &out.v, &out.k_mag, &out.v_mag}) x->assign(G * H * D, 0.0);
  const KvLayerSpec& spec = L.layers[layer];
  const KvLayerOffsets& own = L.offsets[layer];
  const int64_t k_codes = spec.k.shares_codes ? L.offsets[layer - 1].k_codes : own.k_codes;
  const int64_t v_codes = spec.v.shares_codes ? L.offsets[layer - 1].v_codes : own.v_codes;
  for (int64_t j = 0; j < G; ++j) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = (j * H + h) * D + d;
        const int64_t raw = ((h * G + j) * D + d) * 2;
        if (spec.k.bits == kFp16Bits) {
          out.k[i] = HalfAt(block + k_codes + raw);
          out.k_mag[i] = std::abs(out.k[i]);
        } else {
          const int64_t group = h * D + d;
          const int c = UnpackCode(block + k_codes + group * (G * spec.k.bits / 8), j, spec.k.bits);
          const double s = HalfAt(block + own.k_params + group * 4);
          const double z = HalfAt(block + own.k_params + group * 4 + 2);
          out.k[i] = c * s + z;
          out.k_mag[i] = std::abs(c * s) + std::abs(z);
        }
        if (spec.v.bits == kFp16Bits) {
          out.v[i] = HalfAt(block + v_codes + raw);
          out.v_mag[i] = std::abs(out.v[i]);
        } else {
          const int64_t row = h * G + j;
          const int c = UnpackCode(block + v_codes + row * (D * spec.v.bits / 8), d, spec.v.bits);
          const int64_t group = row * (D / G) + d / G;
          const double s = HalfAt(block + own.v_params + group * 4);
          const double z = HalfAt(block + own.v_params + group * 4 + 2);
          out.v[i] = c * s + z;
          out.v_mag[i] = std::abs(c * s) + std::abs(z);
        }
      }
    }
  }
  return out;
}

inline std::vector<_Float16> RandomHalves(std::mt19937& rng, int64_t count, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<_Float16> x(count);
  for (auto& e : x) e = static_cast<_Float16>(dist(rng));
  return x;
}

}  // namespace xq::xqtest
