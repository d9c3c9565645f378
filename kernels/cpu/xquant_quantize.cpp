// Quantize-on-append for XQuant blocks: min-max, codes and params for 16 key channels (or 16
// value channels of one token) per vector. Byte-identical to XqQuantizeBlockLayerReference: the
// same IEEE operations in the same order, and the calibration in plain scalar code.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/include/xquant_kernels.h"
#include "kernels/include/xquant_params.h"

// GCC 12 reports its own _mm512_undefined_*() placeholders inside the intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define XQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c")))

namespace xq {
namespace {

bool HasAvx512() { return DetectedCpuFeatures().avx512; }

void StoreHalf(uint8_t* p, _Float16 h) { std::memcpy(p, &h, sizeof h); }

// One head's params from its groups' uncalibrated s, z (in group order): the same calls as the
// reference, kept out of the vector code so that no multiply-add is contracted differently.
__attribute__((noinline)) void StoreHeadParams(const KvSlotSpec& spec, const float* s,
                                               const float* z, int64_t n, int levels,
                                               uint8_t* head) {
  if (spec.param_bits == kFp16Bits) {
    for (int64_t i = 0; i < n; ++i) {
      const ParamPair p = CalibratedPair(s[i], z[i], levels, spec.eta);
      StoreHalf(head + i * 4, static_cast<_Float16>(p.s));
      StoreHalf(head + i * 4 + 2, static_cast<_Float16>(p.z));
    }
    return;
  }
  ParamExtent extent;
  for (int64_t i = 0; i < n; ++i) extent.Add(CalibratedPair(s[i], z[i], levels, spec.eta));
  const ParamBase base = FitParamBase(extent);
  StoreParamBase(base, head);
  for (int64_t i = 0; i < n; ++i) {
    StoreParamPair8(base, CalibratedPair(s[i], z[i], levels, spec.eta), head, i);
  }
}

XQ_AVX512 inline __m512 LoadHalf16(const _Float16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// clamp(nearbyint((x - z) / s), 0, levels), 0 where s == 0.
XQ_AVX512 inline __m512i Codes(__m512 x, __m512 z, __m512 s, __m512 levels) {
  const __m512 r = _mm512_roundscale_ps(_mm512_div_ps(_mm512_sub_ps(x, z), s),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 c = _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), levels);
  const __mmask16 live = _mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_NEQ_UQ);
  return _mm512_maskz_cvttps_epi32(live, c);
}

// Code i of `n` at bit i * bits of `dst` (zeroed here first).
void Pack(const int32_t* codes, int64_t n, int bits, uint8_t* dst) {
  std::memset(dst, 0, n * bits / 8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t bit = i * bits;
    dst[bit >> 3] = static_cast<uint8_t>(dst[bit >> 3] | (codes[i] << (bit & 7)));
  }
}

// Keys: groups of T = group_tokens tokens per channel, 16 channels per vector.
XQ_AVX512 void QuantizeKeys(const KvBlockLayout& L, const KvSlotSpec& spec, const KvLayerOffsets& o,
                            const _Float16* k, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t T = L.KeyGroupTokens(spec), code_bytes = L.KeyCodeBytes(spec.bits);
  const int levels = (1 << spec.bits) - 1;
  const __m512 lv = _mm512_set1_ps(static_cast<float>(levels));
  alignas(64) int32_t codes[64][16];  // [token][channel lane], G <= 64
  alignas(64) float s[64 * 128], z[64 * 128];  // [G/T][D] of one head, D <= 128
  int32_t column[64];
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t d0 = 0; d0 < D; d0 += 16) {
      for (int64_t t0 = 0; t0 < G; t0 += T) {
        const _Float16* x = k + t0 * H * D + h * D + d0;
        __m512 lo = LoadHalf16(x), hi = lo;
        for (int64_t j = 1; j < T; ++j) {
          const __m512 v = LoadHalf16(x + j * H * D);
          lo = _mm512_min_ps(lo, v);
          hi = _mm512_max_ps(hi, v);
        }
        const __m512 sv = _mm512_div_ps(_mm512_sub_ps(hi, lo), lv);
        _mm512_storeu_ps(s + t0 / T * D + d0, sv);
        _mm512_storeu_ps(z + t0 / T * D + d0, lo);
        if (spec.shares_codes) continue;
        for (int64_t j = 0; j < T; ++j) {
          _mm512_store_si512(codes[t0 + j], Codes(LoadHalf16(x + j * H * D), lo, sv, lv));
        }
      }
      if (spec.shares_codes) continue;
      for (int i = 0; i < 16; ++i) {
        for (int64_t j = 0; j < G; ++j) column[j] = codes[j][i];
        Pack(column, G, spec.bits, block + o.k_codes + (h * D + d0 + i) * code_bytes);
      }
    }
    StoreHeadParams(spec, s, z, G / T * D, levels,
                    block + o.k_params + h * L.ParamHeadBytes(spec, true));
  }
}

XQ_AVX512 void QuantizeValues(const KvBlockLayout& L, const KvSlotSpec& spec,
                              const KvLayerOffsets& o, const _Float16* v, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  const int64_t C = L.ValueGroupChannels(spec), groups = L.ValueGroups(spec);
  const int64_t code_bytes = L.ValueCodeBytes(spec.bits);
  const int levels = (1 << spec.bits) - 1;
  const __m512 lv = _mm512_set1_ps(static_cast<float>(levels));
  alignas(64) int32_t codes[128];  // D <= 128 (checked by the caller)
  float s[64 * 8], z[64 * 8];      // [G][D/C] of one head, C >= 16
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < G; ++j) {
      const _Float16* row = v + j * H * D + h * D;
      for (int64_t c = 0; c < groups; ++c) {
        const _Float16* x = row + c * C;
        __m512 lo = LoadHalf16(x), hi = lo;
        for (int64_t i = 16; i < C; i += 16) {
          lo = _mm512_min_ps(lo, LoadHalf16(x + i));
          hi = _mm512_max_ps(hi, LoadHalf16(x + i));
        }
        const float zf = _mm512_reduce_min_ps(lo), hf = _mm512_reduce_max_ps(hi);
        const float sf = (hf - zf) / static_cast<float>(levels);
        s[j * groups + c] = sf;
        z[j * groups + c] = zf;
        if (spec.shares_codes) continue;
        for (int64_t i = 0; i < C; i += 16) {
          _mm512_store_si512(codes + c * C + i,
                             Codes(LoadHalf16(x + i), _mm512_set1_ps(zf), _mm512_set1_ps(sf), lv));
        }
      }
      if (!spec.shares_codes)
        Pack(codes, D, spec.bits, block + o.v_codes + (h * G + j) * code_bytes);
    }
    StoreHeadParams(spec, s, z, G * groups, levels,
                    block + o.v_params + h * L.ParamHeadBytes(spec, false));
  }
}

void CopyFp16(const KvBlockLayout& L, int64_t offset, const _Float16* x, uint8_t* block) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < G; ++j) {
      std::memcpy(block + offset + (h * G + j) * D * 2, x + j * H * D + h * D, D * 2);
    }
  }
}

}  // namespace

void XqQuantizeBlockLayer(const KvBlockLayout& layout, int64_t layer, const Fp16* k16,
                          const Fp16* v16, uint8_t* block) {
  const auto* k = reinterpret_cast<const _Float16*>(k16);
  const auto* v = reinterpret_cast<const _Float16*>(v16);
  const int64_t D = layout.head_dim, G = layout.block_tokens;
  if (!HasAvx512() || D % 16 != 0 || D > 128 || G % 16 != 0 || G > 64 ||
      layout.ValueGroupChannels(layout.layers[layer].v) % 16 != 0) {
    XqQuantizePaths().Count(KernelPath::kReference);
    return XqQuantizeBlockLayerReference(layout, layer, k16, v16, block);
  }
  XqQuantizePaths().Count(KernelPath::kAvx512);
  const KvLayerSpec& spec = layout.layers[layer];
  const KvLayerOffsets& o = layout.offsets[layer];
  if (spec.k.bits == kFp16Bits) {
    CopyFp16(layout, o.k_codes, k, block);
  } else {
    QuantizeKeys(layout, spec.k, o, k, block);
  }
  if (spec.v.bits == kFp16Bits) {
    CopyFp16(layout, o.v_codes, v, block);
  } else {
    QuantizeValues(layout, spec.v, o, v, block);
  }
}

}  // namespace xq
