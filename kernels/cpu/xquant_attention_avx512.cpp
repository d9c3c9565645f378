// AVX-512 XQuant attention work items. Keys: the query is scaled by each channel's s once per
// block, so a block's scores are sum_d (q_d s_d) code_{t,d} + sum_d q_d z_d with the packed codes
// decoded 16 tokens at a time (1-bit codes act as add masks). Values: p_t s_{t,c} weights the codes
// and sum_t p_t z_{t,c} is added once per channel group. All query heads of a KV head share each
// decoded code vector; nothing dequantized is ever stored.
#include "kernels/cpu/xquant_attention_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

// GCC 12 reports its own _mm512_undefined_*() placeholders inside the intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define XQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,bmi2")))
#define XQ_INLINE XQ_AVX512 inline __attribute__((always_inline))

namespace xq::xq_avx512 {
namespace {

constexpr int kMaxGroup = 4;   // query heads sharing one pass over the codes (registers)
constexpr int kMaxDim = 128;   // head_dim supported here
constexpr int64_t kAhead = 4;  // blocks prefetched ahead of use

XQ_INLINE __m512 LoadHalf16(const void* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

XQ_INLINE float RoundHalf(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

// 16 consecutive B-bit codes (B = 2, 4, 8) starting at byte p, as floats. For B < 8 the code
// plus garbage bits lands in each lane's low nibble and vpermps (which reads only those 4 bits)
// maps it to its value: one op fewer than mask + convert.
template <int B>
XQ_INLINE __m512 Decode16(const uint8_t* p) {
  if constexpr (B == 2) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    const __m512i shifts =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 values = _mm512_setr_ps(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(w)), shifts),
                                 values);
  } else if constexpr (B == 4) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    b = _mm_unpacklo_epi8(b, b);  // byte i/2 in lane i
    const __m512i shifts = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    const __m512 values = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_cvtepu8_epi32(b), shifts), values);
  } else {
    static_assert(B == 8);
    return _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
}

// Pulls [p, p + bytes) toward L1 ahead of use: blocks are scattered in the arena and each work
// item touches only a few lines of each, which the hardware prefetchers do not follow.
XQ_INLINE void Prefetch(const uint8_t* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
}

XQ_INLINE __mmask16 Mask16(const uint8_t* p) {
  uint16_t m;
  std::memcpy(&m, p, 2);
  return m;
}

// Reduction tree over 16 per-token partial vectors: level k (1..4) folds pairs so that after
// level 4 lane j holds token j's sum. Segment s = 16 >> k; lanes < 8 come from a, the rest from b.
constexpr std::array<int, 16> FoldIndex(int level) {
  std::array<int, 16> idx{};
  const int s = 16 >> level;
  for (int j = 0; j < 16; ++j) {
    const int jj = j % 8;
    idx[j] = (j < 8 ? 0 : 16) + 2 * s * (jj / s) + jj % s;
  }
  return idx;
}
constexpr std::array<std::array<int, 16>, 5> kFold = {FoldIndex(1), FoldIndex(1), FoldIndex(2),
                                                      FoldIndex(3), FoldIndex(4)};

template <int LEVEL>
XQ_INLINE __m512 Fold(__m512 a, __m512 b) {
  const __m512i even = _mm512_loadu_si512(kFold[LEVEL].data());
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(16 >> LEVEL));
  return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

// out[h] lanes = dot products of 2^LEVEL consecutive fp16 rows with q16[h], folded (LEVEL 0: one
// row, unreduced).
template <int NG, int DV, int LEVEL>
XQ_INLINE void Dots(const _Float16* k, int64_t stride, const float* q16, __m512* out) {
  if constexpr (LEVEL == 0) {
    __m512 x[DV];
    for (int u = 0; u < DV; ++u) x[u] = LoadHalf16(k + 16 * u);
    for (int h = 0; h < NG; ++h) {
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q16 + h * kMaxDim), x[0]);
      for (int u = 1; u < DV; ++u) {
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q16 + h * kMaxDim + 16 * u), x[u], acc);
      }
      out[h] = acc;
    }
  } else {
    __m512 a[NG], b[NG];
    Dots<NG, DV, LEVEL - 1>(k, stride, q16, a);
    Dots<NG, DV, LEVEL - 1>(k + (stride << (LEVEL - 1)), stride, q16, b);
    for (int h = 0; h < NG; ++h) out[h] = Fold<LEVEL>(a[h], b[h]);
  }
}

// Scores of `count` fp16 key rows (row i at k + i * stride) for NG heads (q16 rounded to fp16).
template <int NG, int DV>
XQ_AVX512 void Fp16Scores(const _Float16* k, int64_t stride, int64_t count, const float* q16,
                          float scale, float* out, int64_t out_stride) {
  const __m512 vs = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    __m512 d[NG];
    Dots<NG, DV, 4>(k + i * stride, stride, q16, d);
    for (int h = 0; h < NG; ++h)
      _mm512_storeu_ps(out + h * out_stride + i, _mm512_mul_ps(d[h], vs));
  }
  for (; i < count; ++i) {
    __m512 d[NG];
    Dots<NG, DV, 0>(k + i * stride, stride, q16, d);
    for (int h = 0; h < NG; ++h) out[h * out_stride + i] = _mm512_reduce_add_ps(d[h]) * scale;
  }
}

// The D {s, z} pairs of one key token group (groups first .. first + D - 1 of the head) as
// floats, interleaved.
XQ_AVX512 void LoadKeyParams(const ParamReader& params, int64_t first, int64_t D, float* sz) {
  if (params.bits == kFp16Bits) {
    const uint8_t* at = params.head + first * 4;
    for (int64_t i = 0; i < 2 * D; i += 16) _mm512_store_ps(sz + i, LoadHalf16(at + i * 2));
    return;
  }
  for (int64_t d = 0; d < D; ++d) {
    const ParamPair p = params(first + d);
    sz[2 * d] = p.s;
    sz[2 * d + 1] = p.z;
  }
}

// qs[h][d] = q[h][d] * s_d and cz[h] = sum_d q[h][d] * z_d from D interleaved {s, z} floats.
XQ_AVX512 void FoldKeyParams(const float* params, const float* const* q, int ng, int64_t D,
                             float* qs, float* cz) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  __m512 zacc[kMaxGroup];
  for (int h = 0; h < ng; ++h) zacc[h] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; d += 16) {
    const __m512 lo = _mm512_load_ps(params + 2 * d), hi = _mm512_load_ps(params + 2 * d + 16);
    const __m512 s = _mm512_permutex2var_ps(lo, even, hi);
    const __m512 z = _mm512_permutex2var_ps(lo, odd, hi);
    for (int h = 0; h < ng; ++h) {
      const __m512 qv = _mm512_loadu_ps(q[h] + d);
      _mm512_storeu_ps(qs + h * kMaxDim + d, _mm512_mul_ps(qv, s));
      zacc[h] = _mm512_fmadd_ps(qv, z, zacc[h]);
    }
  }
  for (int h = 0; h < ng; ++h) cz[h] = _mm512_reduce_add_ps(zacc[h]);
}

// Scores of one key token group (16 * NT tokens) of one KV head: codes points at the group's
// first token in channel 0's string, strings `row` bytes apart ([D][G*B/8]). Two channels per
// step with their own accumulators keep enough FMA chains in flight.
template <int B, int NG, int NT>
XQ_AVX512 void QuantKeyGroup(const uint8_t* codes, int64_t row, int64_t D, const float* qs,
                             const float* cz, float scale, float* out, int64_t out_stride) {
  __m512 acc[2][NG][NT];
  for (int e = 0; e < 2; ++e) {
    for (int h = 0; h < NG; ++h) {
      for (int v = 0; v < NT; ++v) acc[e][h][v] = _mm512_setzero_ps();
    }
  }
  for (int64_t d = 0; d < D; d += 2) {
    for (int e = 0; e < 2; ++e) {
      const uint8_t* cd = codes + (d + e) * row;
      for (int v = 0; v < NT; ++v) {
        if constexpr (B == 1) {
          const __mmask16 m = Mask16(cd + 2 * v);
          for (int h = 0; h < NG; ++h) {
            acc[e][h][v] = _mm512_mask_add_ps(acc[e][h][v], m, acc[e][h][v],
                                              _mm512_set1_ps(qs[h * kMaxDim + d + e]));
          }
        } else {
          const __m512 x = Decode16<B>(cd + v * 2 * B);
          for (int h = 0; h < NG; ++h) {
            acc[e][h][v] =
                _mm512_fmadd_ps(_mm512_set1_ps(qs[h * kMaxDim + d + e]), x, acc[e][h][v]);
          }
        }
      }
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int h = 0; h < NG; ++h) {
    const __m512 c = _mm512_set1_ps(cz[h]);
    for (int v = 0; v < NT; ++v) {
      const __m512 sum = _mm512_add_ps(acc[0][h][v], acc[1][h][v]);
      _mm512_storeu_ps(out + h * out_stride + 16 * v, _mm512_mul_ps(_mm512_add_ps(sum, c), vs));
    }
  }
}

using QuantKeyFn = void (*)(const uint8_t*, int64_t, int64_t, const float*, const float*, float,
                            float*, int64_t);

template <int NG, int NT>
QuantKeyFn PickQuantKey(int bits) {
  switch (bits) {
    case 1:
      return QuantKeyGroup<1, NG, NT>;
    case 2:
      return QuantKeyGroup<2, NG, NT>;
    case 4:
      return QuantKeyGroup<4, NG, NT>;
    default:
      return QuantKeyGroup<8, NG, NT>;
  }
}

template <int NG>
QuantKeyFn PickQuantKey(int bits, int64_t T) {
  switch (T) {
    case 16:
      return PickQuantKey<NG, 1>(bits);
    case 32:
      return PickQuantKey<NG, 2>(bits);
    default:
      return PickQuantKey<NG, 4>(bits);
  }
}

template <int NG, int DV>
XQ_AVX512 void ScoresGroup(const AttnCtx& c, const Item& it, int64_t h0, float* scores) {
  const XqAttentionParams& p = *c.p;
  const KvBlockLayout& L = *p.layout;
  const int64_t H = c.H, D = c.D, G = c.G, st = c.score_stride;
  alignas(64) float q16[NG * kMaxDim];
  alignas(64) float qs[NG * kMaxDim];
  float cz[NG];
  const float* q[NG];
  for (int h = 0; h < NG; ++h) {
    q[h] = p.q + (it.t * p.num_heads + it.g * c.heads_per_kv + h0 + h) * D;
    for (int64_t d = 0; d < D; ++d) q16[h * kMaxDim + d] = RoundHalf(q[h][d]);
  }
  const ItemSpans spans = SpansOf(it);
  const int64_t block_end = spans.blocks_end;
  const int64_t T = c.k.group_tokens, row = c.k.bits == kFp16Bits ? 0 : L.KeyCodeBytes(c.k.bits);
  const QuantKeyFn quant = c.k.bits == kFp16Bits ? nullptr : PickQuantKey<NG>(c.k.bits, T);
  alignas(64) float sz[2 * kMaxDim];
  for (int64_t j0 = spans.blocks_begin; j0 < block_end; j0 += G) {
    const uint8_t* block = p.arena + static_cast<int64_t>(p.block_table[j0 / G]) * L.block_bytes;
    if (j0 + kAhead * G < block_end) {
      const uint8_t* next =
          p.arena + static_cast<int64_t>(p.block_table[j0 / G + kAhead]) * L.block_bytes;
      if (quant == nullptr) {
        Prefetch(next + c.k.codes + it.g * G * D * 2, G * D * 2);
      } else {
        Prefetch(next + c.k.params + it.g * c.k.head_params, c.k.head_params);
        Prefetch(next + c.k.codes + it.g * D * row, D * row);
      }
    }
    if (quant == nullptr) {
      const auto* k = reinterpret_cast<const _Float16*>(block + c.k.codes) + it.g * G * D;
      Fp16Scores<NG, DV>(k, D, G, q16, p.scale, scores + j0, st);
    } else {
      const ParamReader params(block + c.k.params + it.g * c.k.head_params, c.k.param_bits);
      for (int64_t t0 = 0; t0 < G; t0 += T) {
        LoadKeyParams(params, t0 / T * D, D, sz);
        FoldKeyParams(sz, q, NG, D, qs, cz);
        quant(block + c.k.codes + it.g * D * row + t0 * c.k.bits / 8, row, D, qs, cz, p.scale,
              scores + j0 + t0, st);
      }
    }
  }
  for (const auto& [lo, hi] : spans.fp16) {
    for (int64_t j = lo; j < hi;) {
      const WindowRun run = WindowRunAt(p, 0, j, hi);
      Fp16Scores<NG, DV>(run.rows + it.g * D, H * D, run.count, q16, p.scale, scores + j, st);
      j += run.count;
    }
  }
}

// acc[h] += w16[h] * row for `count` fp16 rows.
template <int NG, int DV>
XQ_INLINE void Fp16Values(const _Float16* v, int64_t stride, int64_t count, const float* w,
                          int64_t w_stride, __m512 (&acc)[NG][DV]) {
  for (int64_t i = 0; i < count; ++i) {
    __m512 x[DV];
    for (int u = 0; u < DV; ++u) x[u] = LoadHalf16(v + i * stride + 16 * u);
    for (int h = 0; h < NG; ++h) {
      const __m512 wh = _mm512_set1_ps(RoundHalf(w[h * w_stride + i]));
      for (int u = 0; u < DV; ++u) acc[h][u] = _mm512_fmadd_ps(wh, x[u], acc[h][u]);
    }
  }
}

// One quantized value block of one KV head: codes [G][D*B/8], params [G][D/C]{s, z} for groups of
// C channels. zsum[h][c] gathers sum_t w_t z_{t,c} per lane; the caller adds it to channel group c
// at the end.
template <int B, int NG, int DV>
XQ_INLINE void QuantValueBlock(const uint8_t* codes, const ParamReader& params, int64_t G,
                               int64_t C, const float* w, int64_t w_stride, __m512 (&acc)[NG][DV],
                               float* zsum) {
  constexpr int D = 16 * DV;
  const int64_t groups = D / C;
  alignas(64) float pf[2 * 64 * (kMaxDim / 16)];  // G * (D / C) {s, z} pairs, G <= 64, C >= 16
  if (params.bits == kFp16Bits) {
    for (int64_t i = 0; i < G * groups * 2; i += 16) {
      _mm512_store_ps(pf + i, LoadHalf16(params.head + i * 2));
    }
  } else {
    for (int64_t i = 0; i < G * groups; ++i) {
      const ParamPair p = params(i);
      pf[2 * i] = p.s;
      pf[2 * i + 1] = p.z;
    }
  }
  alignas(64) float ws[NG][kMaxDim / 16][16];  // w_t * s_{t,c} for 16 tokens
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i stride = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(groups * 2)));
  for (int64_t j0 = 0; j0 < G; j0 += 16) {
    for (int64_t c = 0; c < groups; ++c) {
      const float* base = pf + (j0 * groups + c) * 2;
      const __m512 s = _mm512_i32gather_ps(stride, base, 4);
      const __m512 z = _mm512_i32gather_ps(stride, base + 1, 4);
      for (int h = 0; h < NG; ++h) {
        const __m512 wv = _mm512_loadu_ps(w + h * w_stride + j0);
        _mm512_store_ps(ws[h][c], _mm512_mul_ps(wv, s));
        float* zs = zsum + (h * (kMaxDim / 16) + c) * 16;
        _mm512_storeu_ps(zs, _mm512_fmadd_ps(wv, z, _mm512_loadu_ps(zs)));
      }
    }
    for (int64_t jj = 0; jj < 16; ++jj) {
      const uint8_t* row = codes + (j0 + jj) * (D * B / 8);
      for (int u = 0; u < DV; ++u) {
        const int64_t c = 16 * u / C;
        if constexpr (B == 1) {
          const __mmask16 m = Mask16(row + 2 * u);
          for (int h = 0; h < NG; ++h) {
            acc[h][u] = _mm512_mask_add_ps(acc[h][u], m, acc[h][u], _mm512_set1_ps(ws[h][c][jj]));
          }
        } else {
          const __m512 x = Decode16<B>(row + u * 2 * B);
          for (int h = 0; h < NG; ++h) {
            acc[h][u] = _mm512_fmadd_ps(_mm512_set1_ps(ws[h][c][jj]), x, acc[h][u]);
          }
        }
      }
    }
  }
}

template <int NG, int DV, int B>
XQ_AVX512 void ValuesGroupBits(const AttnCtx& c, const Item& it, const float* w, float* partial) {
  const XqAttentionParams& p = *c.p;
  const KvBlockLayout& L = *p.layout;
  constexpr int D = 16 * DV;
  const int64_t H = c.H, G = c.G, st = c.score_stride;
  __m512 acc[NG][DV];
  for (int h = 0; h < NG; ++h) {
    for (int u = 0; u < DV; ++u) acc[h][u] = _mm512_setzero_ps();
  }
  alignas(64) float zsum[NG * (kMaxDim / 16) * 16] = {};
  const ItemSpans spans = SpansOf(it);
  const int64_t block_end = spans.blocks_end;
  for (int64_t j0 = spans.blocks_begin; j0 < block_end; j0 += G) {
    const uint8_t* block = p.arena + static_cast<int64_t>(p.block_table[j0 / G]) * L.block_bytes;
    if (j0 + kAhead * G < block_end) {
      const uint8_t* next =
          p.arena + static_cast<int64_t>(p.block_table[j0 / G + kAhead]) * L.block_bytes;
      if constexpr (B == kFp16Bits) {
        Prefetch(next + c.v.codes + it.g * G * D * 2, G * D * 2);
      } else {
        Prefetch(next + c.v.codes + it.g * G * (D * B / 8), G * (D * B / 8));
        Prefetch(next + c.v.params + it.g * c.v.head_params, c.v.head_params);
      }
    }
    if constexpr (B == kFp16Bits) {
      const auto* v = reinterpret_cast<const _Float16*>(block + c.v.codes) + it.g * G * D;
      Fp16Values<NG, DV>(v, D, G, w + j0, st, acc);
    } else {
      const uint8_t* codes = block + c.v.codes + it.g * G * (D * B / 8);
      const ParamReader params(block + c.v.params + it.g * c.v.head_params, c.v.param_bits);
      QuantValueBlock<B, NG, DV>(codes, params, G, c.v.group_channels, w + j0, st, acc, zsum);
    }
  }
  for (const auto& [lo, hi] : spans.fp16) {
    for (int64_t j = lo; j < hi;) {
      const WindowRun run = WindowRunAt(p, 1, j, hi);
      Fp16Values<NG, DV>(run.rows + it.g * D, H * D, run.count, w + j, st, acc);
      j += run.count;
    }
  }
  for (int h = 0; h < NG; ++h) {
    for (int u = 0; u < DV; ++u) {
      __m512 r = acc[h][u];
      if constexpr (B != kFp16Bits) {
        const float* zs = zsum + (h * (kMaxDim / 16) + 16 * u / c.v.group_channels) * 16;
        r = _mm512_add_ps(r, _mm512_set1_ps(_mm512_reduce_add_ps(_mm512_loadu_ps(zs))));
      }
      _mm512_storeu_ps(partial + h * D + 16 * u, r);
    }
  }
}

template <int NG, int DV>
void ValuesGroup(const AttnCtx& c, const Item& it, const float* w, float* partial) {
  switch (c.v.bits) {
    case 1:
      return ValuesGroupBits<NG, DV, 1>(c, it, w, partial);
    case 2:
      return ValuesGroupBits<NG, DV, 2>(c, it, w, partial);
    case 4:
      return ValuesGroupBits<NG, DV, 4>(c, it, w, partial);
    case 8:
      return ValuesGroupBits<NG, DV, 8>(c, it, w, partial);
    default:
      return ValuesGroupBits<NG, DV, kFp16Bits>(c, it, w, partial);
  }
}

template <int DV>
void ScoresDim(const AttnCtx& c, const Item& it, int64_t h0, int ng, float* scores) {
  switch (ng) {
    case 1:
      return ScoresGroup<1, DV>(c, it, h0, scores);
    case 2:
      return ScoresGroup<2, DV>(c, it, h0, scores);
    case 3:
      return ScoresGroup<3, DV>(c, it, h0, scores);
    default:
      return ScoresGroup<4, DV>(c, it, h0, scores);
  }
}

template <int DV>
void ValuesDim(const AttnCtx& c, const Item& it, int ng, const float* w, float* partial) {
  switch (ng) {
    case 1:
      return ValuesGroup<1, DV>(c, it, w, partial);
    case 2:
      return ValuesGroup<2, DV>(c, it, w, partial);
    case 3:
      return ValuesGroup<3, DV>(c, it, w, partial);
    default:
      return ValuesGroup<4, DV>(c, it, w, partial);
  }
}

}  // namespace

bool Supports(const KvBlockLayout& layout) {
  const int64_t D = layout.head_dim, G = layout.block_tokens;
  return (D == 32 || D == 64 || D == 128) && (G == 16 || G == 32 || G == 64) &&
         GroupsOf16(layout);
}

XQ_AVX512 void Scores(const AttnCtx& c, const Item& it, float* scores) {
  for (int64_t h0 = 0; h0 < c.heads_per_kv; h0 += kMaxGroup) {
    const int ng = static_cast<int>(std::min<int64_t>(kMaxGroup, c.heads_per_kv - h0));
    float* rows = scores + h0 * c.score_stride;
    switch (c.D) {
      case 32:
        ScoresDim<2>(c, it, h0, ng, rows);
        break;
      case 64:
        ScoresDim<4>(c, it, h0, ng, rows);
        break;
      default:
        ScoresDim<8>(c, it, h0, ng, rows);
        break;
    }
  }
}

XQ_AVX512 void Values(const AttnCtx& c, const Item& it, const float* weights, float* partial) {
  for (int64_t h0 = 0; h0 < c.heads_per_kv; h0 += kMaxGroup) {
    const int ng = static_cast<int>(std::min<int64_t>(kMaxGroup, c.heads_per_kv - h0));
    const float* w = weights + h0 * c.score_stride;
    float* out = partial + h0 * c.D;
    switch (c.D) {
      case 32:
        ValuesDim<2>(c, it, ng, w, out);
        break;
      case 64:
        ValuesDim<4>(c, it, ng, w, out);
        break;
      default:
        ValuesDim<8>(c, it, ng, w, out);
        break;
    }
  }
}

}  // namespace xq::xq_avx512
