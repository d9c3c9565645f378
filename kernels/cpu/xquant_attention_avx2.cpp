// AVX2 XQuant attention work items, the same algebra as the AVX-512 kernels with 8-lane vectors.
// Keys: sum_d (q_d s_d) code_{t,d} + sum_d q_d z_d per block, codes decoded 8 tokens at a time.
// Values: p_t s_{t,c} weights the codes of 16 channels at a time and sum_t p_t z_{t,c} is added
// per channel group at the end. Tokens and channels run in chunks of 16 so that the accumulators
// of up to four query heads stay in the 16 ymm registers.
#include "kernels/cpu/xquant_attention_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#define XQ_AVX2 __attribute__((target("avx2,fma,f16c,bmi2")))
#define XQ_INLINE XQ_AVX2 inline __attribute__((always_inline))

namespace xq::xq_avx2 {
namespace {

constexpr int kMaxGroup = 4;   // query heads sharing one pass over the codes
constexpr int kMaxDim = 256;   // head_dim supported here
constexpr int64_t kAhead = 4;  // blocks prefetched ahead of use

XQ_INLINE __m256 LoadHalf8(const void* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
}

XQ_INLINE float RoundHalf(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

// 8 consecutive B-bit codes starting at byte p (8 codes fill B bytes), as floats.
template <int B>
XQ_INLINE __m256 Decode8(const uint8_t* p) {
  if constexpr (B == 8) {
    return _mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  } else {
    uint32_t w = 0;
    std::memcpy(&w, p, B);
    const __m256i shifts = _mm256_setr_epi32(0, B, 2 * B, 3 * B, 4 * B, 5 * B, 6 * B, 7 * B);
    const __m256i x = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(w)), shifts);
    return _mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32((1 << B) - 1)));
  }
}

XQ_INLINE void Prefetch(const uint8_t* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
  }
}

// Lane i = the sum of the 8 lanes of a[i].
XQ_INLINE __m256 Sum8x8(const __m256 (&a)[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

XQ_INLINE float Sum8(__m256 a) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// Scores of `count` fp16 key rows (row i at k + i * stride) for ng heads (q16 rounded to fp16).
XQ_AVX2 void Fp16Scores(const _Float16* k, int64_t stride, int64_t count, int64_t D,
                        const float* q16, int ng, float scale, float* out, int64_t out_stride) {
  for (int h = 0; h < ng; ++h) {
    const float* qh = q16 + h * kMaxDim;
    float* oh = out + h * out_stride;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
      __m256 acc[8];
      for (int r = 0; r < 8; ++r) {
        const _Float16* row = k + (i + r) * stride;
        acc[r] = _mm256_mul_ps(_mm256_loadu_ps(qh), LoadHalf8(row));
        for (int64_t d = 8; d < D; d += 8) {
          acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), LoadHalf8(row + d), acc[r]);
        }
      }
      _mm256_storeu_ps(oh + i, _mm256_mul_ps(Sum8x8(acc), _mm256_set1_ps(scale)));
    }
    for (; i < count; ++i) {
      const _Float16* row = k + i * stride;
      __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(qh), LoadHalf8(row));
      for (int64_t d = 8; d < D; d += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), LoadHalf8(row + d), acc);
      }
      oh[i] = Sum8(acc) * scale;
    }
  }
}

// qs[h][d] = q[h][d] * s_d and cz[h] = sum_d q[h][d] * z_d from the D {s, z} pairs of one key
// token group (groups first .. first + D - 1 of the head).
XQ_AVX2 void FoldKeyParams(const ParamReader& params, int64_t first, const float* const* q, int ng,
                           int64_t D, float* qs, float* cz) {
  alignas(32) float s[kMaxDim], z[kMaxDim];
  for (int64_t d = 0; d < D; ++d) {
    const ParamPair sz = params(first + d);
    s[d] = sz.s;
    z[d] = sz.z;
  }
  for (int h = 0; h < ng; ++h) {
    __m256 zacc = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q[h] + d);
      _mm256_storeu_ps(qs + h * kMaxDim + d, _mm256_mul_ps(qv, _mm256_load_ps(s + d)));
      zacc = _mm256_fmadd_ps(qv, _mm256_load_ps(z + d), zacc);
    }
    cz[h] = Sum8(zacc);
  }
}

// Scores of one key token group (T tokens) of one KV head, 16 tokens at a time: codes points at
// the group's first token in channel 0's string of G tokens (strings [D][G*B/8]).
template <int B, int NG>
XQ_AVX2 void QuantKeyGroup(const uint8_t* codes, int64_t D, int64_t G, int64_t T, const float* qs,
                           const float* cz, float scale, float* out, int64_t out_stride) {
  const int64_t row = G * B / 8;
  for (int64_t j = 0; j < T; j += 16) {
    __m256 acc[NG][2];
    for (int h = 0; h < NG; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const uint8_t* cd = codes + d * row + j * B / 8;
      const __m256 x0 = Decode8<B>(cd), x1 = Decode8<B>(cd + B);
      for (int h = 0; h < NG; ++h) {
        const __m256 w = _mm256_broadcast_ss(qs + h * kMaxDim + d);
        acc[h][0] = _mm256_fmadd_ps(w, x0, acc[h][0]);
        acc[h][1] = _mm256_fmadd_ps(w, x1, acc[h][1]);
      }
    }
    const __m256 vs = _mm256_set1_ps(scale);
    for (int h = 0; h < NG; ++h) {
      const __m256 c = _mm256_set1_ps(cz[h]);
      for (int v = 0; v < 2; ++v) {
        _mm256_storeu_ps(out + h * out_stride + j + 8 * v,
                         _mm256_mul_ps(_mm256_add_ps(acc[h][v], c), vs));
      }
    }
  }
}

using QuantKeyFn = void (*)(const uint8_t*, int64_t, int64_t, int64_t, const float*,
                            const float*, float, float*, int64_t);

template <int NG>
QuantKeyFn PickQuantKey(int bits) {
  switch (bits) {
    case 1:
      return QuantKeyGroup<1, NG>;
    case 2:
      return QuantKeyGroup<2, NG>;
    case 4:
      return QuantKeyGroup<4, NG>;
    default:
      return QuantKeyGroup<8, NG>;
  }
}

QuantKeyFn PickQuantKey(int bits, int ng) {
  switch (ng) {
    case 1:
      return PickQuantKey<1>(bits);
    case 2:
      return PickQuantKey<2>(bits);
    case 3:
      return PickQuantKey<3>(bits);
    default:
      return PickQuantKey<4>(bits);
  }
}

XQ_AVX2 void ScoresGroup(const AttnCtx& c, const Item& it, int64_t h0, int ng, float* scores) {
  const XqAttentionParams& p = *c.p;
  const KvBlockLayout& L = *p.layout;
  const int64_t H = c.H, D = c.D, G = c.G, st = c.score_stride;
  alignas(32) float q16[kMaxGroup * kMaxDim];
  alignas(32) float qs[kMaxGroup * kMaxDim];
  float cz[kMaxGroup];
  const float* q[kMaxGroup];
  for (int h = 0; h < ng; ++h) {
    q[h] = p.q + (it.t * p.num_heads + it.g * c.heads_per_kv + h0 + h) * D;
    for (int64_t d = 0; d < D; ++d) q16[h * kMaxDim + d] = RoundHalf(q[h][d]);
  }
  const bool fp16 = c.k.bits == kFp16Bits;
  const QuantKeyFn quant = fp16 ? nullptr : PickQuantKey(c.k.bits, ng);
  const int64_t code_bytes = fp16 ? G * D * 2 : D * L.KeyCodeBytes(c.k.bits);
  const ItemSpans spans = SpansOf(it);
  const int64_t block_end = spans.blocks_end;
  for (int64_t j0 = spans.blocks_begin; j0 < block_end; j0 += G) {
    const uint8_t* block = p.arena + static_cast<int64_t>(p.block_table[j0 / G]) * L.block_bytes;
    if (j0 + kAhead * G < block_end) {
      const uint8_t* next =
          p.arena + static_cast<int64_t>(p.block_table[j0 / G + kAhead]) * L.block_bytes;
      Prefetch(next + c.k.codes + it.g * code_bytes, code_bytes);
      if (!fp16) Prefetch(next + c.k.params + it.g * c.k.head_params, c.k.head_params);
    }
    if (fp16) {
      const auto* k = reinterpret_cast<const _Float16*>(block + c.k.codes) + it.g * G * D;
      Fp16Scores(k, D, G, D, q16, ng, p.scale, scores + j0, st);
    } else {
      const ParamReader params(block + c.k.params + it.g * c.k.head_params, c.k.param_bits);
      const int64_t T = c.k.group_tokens;
      for (int64_t t0 = 0; t0 < G; t0 += T) {
        FoldKeyParams(params, t0 / T * D, q, ng, D, qs, cz);
        quant(block + c.k.codes + it.g * code_bytes + t0 * c.k.bits / 8, D, G, T, qs, cz, p.scale,
              scores + j0 + t0, st);
      }
    }
  }
  for (const auto& [lo, hi] : spans.fp16) {
    for (int64_t j = lo; j < hi;) {
      const WindowRun run = WindowRunAt(p, 0, j, hi);
      Fp16Scores(run.rows + it.g * D, H * D, run.count, D, q16, ng, p.scale, scores + j, st);
      j += run.count;
    }
  }
}

// acc[h][0..1] += w16[h][i] * row_i[d0, d0 + 16) for `count` fp16 rows.
template <int NG>
XQ_INLINE void Fp16Values(const _Float16* v, int64_t stride, int64_t count, const float* w,
                          int64_t w_stride, __m256 (&acc)[NG][2]) {
  for (int64_t i = 0; i < count; ++i) {
    const __m256 x0 = LoadHalf8(v + i * stride), x1 = LoadHalf8(v + i * stride + 8);
    for (int h = 0; h < NG; ++h) {
      const __m256 wh = _mm256_set1_ps(RoundHalf(w[h * w_stride + i]));
      acc[h][0] = _mm256_fmadd_ps(wh, x0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(wh, x1, acc[h][1]);
    }
  }
}

// Channels [d0, d0 + 16) (inside one channel group of C channels) of one quantized value block:
// codes [G][D*B/8], params [G][D/C]{s, z}. zsum[h] gathers sum_t w_t z_{t,c}.
template <int B, int NG>
XQ_INLINE void QuantValues(const uint8_t* codes, const ParamReader& params, int64_t G, int64_t C,
                           int64_t D, int64_t d0, const float* w, int64_t w_stride,
                           __m256 (&acc)[NG][2], float* zsum) {
  const int64_t row = D * B / 8, groups = D / C, c = d0 / C;
  for (int64_t i = 0; i < G; ++i) {
    const uint8_t* cd = codes + i * row + d0 * B / 8;
    const __m256 x0 = Decode8<B>(cd), x1 = Decode8<B>(cd + B);
    const ParamPair sz = params(i * groups + c);
    const float s = sz.s, z = sz.z;
    for (int h = 0; h < NG; ++h) {
      const float wi = w[h * w_stride + i];
      const __m256 ws = _mm256_set1_ps(wi * s);
      acc[h][0] = _mm256_fmadd_ps(ws, x0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(ws, x1, acc[h][1]);
      zsum[h] += wi * z;
    }
  }
}

template <int NG, int B>
XQ_AVX2 void ValuesGroupBits(const AttnCtx& c, const Item& it, const float* w, float* partial) {
  const XqAttentionParams& p = *c.p;
  const KvBlockLayout& L = *p.layout;
  const int64_t H = c.H, D = c.D, G = c.G, st = c.score_stride;
  const int64_t code_bytes = B == kFp16Bits ? G * D * 2 : G * (D * B / 8);
  const int64_t param_bytes = c.v.head_params;
  const ItemSpans spans = SpansOf(it);
  const int64_t block_end = spans.blocks_end;
  for (int64_t d0 = 0; d0 < D; d0 += 16) {
    __m256 acc[NG][2];
    for (int h = 0; h < NG; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
    float zsum[NG] = {};
    for (int64_t j0 = spans.blocks_begin; j0 < block_end; j0 += G) {
      const uint8_t* block = p.arena + static_cast<int64_t>(p.block_table[j0 / G]) * L.block_bytes;
      if (d0 == 0 && j0 + kAhead * G < block_end) {
        const uint8_t* next =
            p.arena + static_cast<int64_t>(p.block_table[j0 / G + kAhead]) * L.block_bytes;
        Prefetch(next + c.v.codes + it.g * code_bytes, code_bytes);
        if constexpr (B != kFp16Bits) Prefetch(next + c.v.params + it.g * param_bytes, param_bytes);
      }
      if constexpr (B == kFp16Bits) {
        const auto* v = reinterpret_cast<const _Float16*>(block + c.v.codes) + it.g * G * D + d0;
        Fp16Values<NG>(v, D, G, w + j0, st, acc);
      } else {
        const ParamReader params(block + c.v.params + it.g * param_bytes, c.v.param_bits);
        QuantValues<B, NG>(block + c.v.codes + it.g * code_bytes, params, G, c.v.group_channels, D,
                           d0, w + j0, st, acc, zsum);
      }
    }
    for (const auto& [lo, hi] : spans.fp16) {
      for (int64_t j = lo; j < hi;) {
        const WindowRun run = WindowRunAt(p, 1, j, hi);
        Fp16Values<NG>(run.rows + it.g * D + d0, H * D, run.count, w + j, st, acc);
        j += run.count;
      }
    }
    for (int h = 0; h < NG; ++h) {
      const __m256 z = _mm256_set1_ps(zsum[h]);
      for (int v = 0; v < 2; ++v) {
        __m256 r = acc[h][v];
        if constexpr (B != kFp16Bits) r = _mm256_add_ps(r, z);
        _mm256_storeu_ps(partial + h * D + d0 + 8 * v, r);
      }
    }
  }
}

template <int NG>
void ValuesGroup(const AttnCtx& c, const Item& it, const float* w, float* partial) {
  switch (c.v.bits) {
    case 1:
      return ValuesGroupBits<NG, 1>(c, it, w, partial);
    case 2:
      return ValuesGroupBits<NG, 2>(c, it, w, partial);
    case 4:
      return ValuesGroupBits<NG, 4>(c, it, w, partial);
    case 8:
      return ValuesGroupBits<NG, 8>(c, it, w, partial);
    default:
      return ValuesGroupBits<NG, kFp16Bits>(c, it, w, partial);
  }
}

// exp(x) for x <= 0 (Cephes polynomial, about 1 ulp); underflows to 0 below -87.
XQ_INLINE __m256 Exp(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n from the exponent bits: n >= -126 here, so the result stays a normal float.
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

}  // namespace

bool Supports(const KvBlockLayout& layout) {
  const int64_t D = layout.head_dim, G = layout.block_tokens;
  return D % 16 == 0 && D <= kMaxDim && G % 16 == 0 && GroupsOf16(layout);
}

XQ_AVX2 void Scores(const AttnCtx& c, const Item& it, float* scores) {
  for (int64_t h0 = 0; h0 < c.heads_per_kv; h0 += kMaxGroup) {
    const int ng = static_cast<int>(std::min<int64_t>(kMaxGroup, c.heads_per_kv - h0));
    ScoresGroup(c, it, h0, ng, scores + h0 * c.score_stride);
  }
}

XQ_AVX2 void Softmax(float* row, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(row + i));
  for (; i < n; ++i) m = std::max(m, row[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mv);
  for (float x : lanes) m = std::max(m, x);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 sv = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(row + i), vm));
    _mm256_storeu_ps(row + i, e);
    sv = _mm256_add_ps(sv, e);
  }
  float sum = Sum8(sv);
  for (; i < n; ++i) {
    row[i] = std::exp(row[i] - m);
    sum += row[i];
  }
  const float inv = 1.0f / sum;
  const __m256 vi = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), vi));
  for (; i < n; ++i) row[i] *= inv;
}

XQ_AVX2 void Values(const AttnCtx& c, const Item& it, const float* weights, float* partial) {
  for (int64_t h0 = 0; h0 < c.heads_per_kv; h0 += kMaxGroup) {
    const int ng = static_cast<int>(std::min<int64_t>(kMaxGroup, c.heads_per_kv - h0));
    const float* w = weights + h0 * c.score_stride;
    float* out = partial + h0 * c.D;
    switch (ng) {
      case 1:
        ValuesGroup<1>(c, it, w, out);
        break;
      case 2:
        ValuesGroup<2>(c, it, w, out);
        break;
      case 3:
        ValuesGroup<3>(c, it, w, out);
        break;
      default:
        ValuesGroup<4>(c, it, w, out);
        break;
    }
  }
}

}  // namespace xq::xq_avx2
