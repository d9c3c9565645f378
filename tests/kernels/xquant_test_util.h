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

inline double FloatAt(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return static_cast<double>(f);
}

// {s, z} of group i of a head whose params start at `head`: fp16 pairs, or with 8-bit params a
// {s0, z0, zstep} fp32 base then byte pairs, s = s0 * (32 + k % 32) * 2^(k / 32), z = z0 + z8 * zstep.
inline void GroupParams(const uint8_t* head, int param_bits, int64_t i, double* s, double* z) {
  if (param_bits == 16) {
    *s = HalfAt(head + i * 4);
    *z = HalfAt(head + i * 4 + 2);
    return;
  }
  const int k = head[16 + 2 * i], z8 = head[16 + 2 * i + 1];
  *s = FloatAt(head) * std::ldexp(32.0 + k % 32, k / 32);
  *z = FloatAt(head + 4) + z8 * FloatAt(head + 8);
}

// Bytes of one head's params: `groups` pairs of 4 bytes, or 16 + 2 per group at 8 bits.
inline int64_t HeadParamBytes(int param_bits, int64_t groups) {
  return param_bits == 16 ? groups * 4 : 16 + groups * 2;
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
  const int64_t T = spec.k.group_tokens ? spec.k.group_tokens : G;
  const int64_t k_head = HeadParamBytes(spec.k.param_bits, G / T * D);
  const int64_t C = spec.v.group_channels ? spec.v.group_channels : G;
  const int64_t v_head = HeadParamBytes(spec.v.param_bits, G * (D / C));
  for (int64_t j = 0; j < G; ++j) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = (j * H + h) * D + d;
        const int64_t raw = ((h * G + j) * D + d) * 2;
        if (spec.k.bits == kFp16Bits) {
          out.k[i] = HalfAt(block + k_codes + raw);
          out.k_mag[i] = std::abs(out.k[i]);
        } else {
          const int c = UnpackCode(block + k_codes + (h * D + d) * (G * spec.k.bits / 8), j,
                                   spec.k.bits);
          double s, z;
          GroupParams(block + own.k_params + h * k_head, spec.k.param_bits, j / T * D + d, &s, &z);
          out.k[i] = c * s + z;
          out.k_mag[i] = std::abs(c * s) + std::abs(z);
        }
        if (spec.v.bits == kFp16Bits) {
          out.v[i] = HalfAt(block + v_codes + raw);
          out.v_mag[i] = std::abs(out.v[i]);
        } else {
          const int64_t row = h * G + j;
          const int c = UnpackCode(block + v_codes + row * (D * spec.v.bits / 8), d, spec.v.bits);
          double s, z;
          GroupParams(block + own.v_params + h * v_head, spec.v.param_bits, j * (D / C) + d / C, &s,
                      &z);
          out.v[i] = c * s + z;
          out.v_mag[i] = std::abs(c * s) + std::abs(z);
        }
      }
    }
  }
  return out;
}

// The kernels take fp16 as the device-safe Fp16 storage type; tests hold _Float16.
inline const Fp16* AsFp16(const _Float16* p) { return reinterpret_cast<const Fp16*>(p); }

inline KvBlockLayout MakeLayout(int64_t num_kv_heads, int64_t head_dim, int64_t block_tokens,
                                const std::vector<KvLayerSpec>& layers) {
  return MakeKvBlockLayout(num_kv_heads, head_dim, block_tokens, layers.data(),
                           static_cast<int64_t>(layers.size()));
}

// Window pages in `arena` (block ids `pages`, window_pages_per_block per window block) holding
// positions [window_start, window_start + len) of every layer: rows[l] is layer l's [len, H * D]
// keys (is_value 0) or values (1). Row r = (l * 2 + is_value) * G + token of a window block sits
// at slot r % rows_per_page of page r / rows_per_page, as xquant_format.h describes.
inline void WriteWindowPages(const KvBlockLayout& L, int64_t window_start, int64_t len,
                             const std::vector<const _Float16*>& k_rows,
                             const std::vector<const _Float16*>& v_rows,
                             const std::vector<int32_t>& pages, uint8_t* arena) {
  const int64_t G = L.block_tokens, row = L.num_kv_heads * L.head_dim;
  const int64_t per_page = L.block_bytes / (row * 2);
  for (int64_t i = 0; i < len; ++i) {
    const int64_t w = i / G, t = (window_start + i) % G;
    for (int64_t l = 0; l < static_cast<int64_t>(k_rows.size()); ++l) {
      for (int is_value = 0; is_value < 2; ++is_value) {
        const int64_t r = (l * 2 + is_value) * G + t;
        const int64_t page = pages[w * L.window_pages_per_block + r / per_page];
        std::memcpy(arena + page * L.block_bytes + (r % per_page) * row * 2,
                    (is_value ? v_rows[l] : k_rows[l]) + i * row, row * 2);
      }
    }
  }
}

inline int64_t WindowPageCount(const KvBlockLayout& L, int64_t len) {
  return (len + L.block_tokens - 1) / L.block_tokens * L.window_pages_per_block;
}

inline std::vector<_Float16> RandomHalves(std::mt19937& rng, int64_t count, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<_Float16> x(count);
  for (auto& e : x) e = static_cast<_Float16>(dist(rng));
  return x;
}

}  // namespace xq::xqtest
