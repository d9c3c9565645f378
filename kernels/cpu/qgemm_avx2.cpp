// AVX2 quantized matmul: ggml's x86 quantizers and vec_dot lanes, several activation rows per
// weight block so prefill reads each weight block once per tile of rows.
#include "kernels/cpu/qgemm_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "kernels/include/ggml_blocks.h"

#define XQ_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace xq::qgemm_avx2 {
namespace {

XQ_AVX2 inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

// Lane k = the exact integer sum of u[e] * s[e] over e = 4k..4k+3 (pair sums stay below 2^15).
XQ_AVX2 inline __m256 DotU8S8(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// ggml's hsum_float_8 order: ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)).
XQ_AVX2 inline float HSum(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

XQ_AVX2 inline float Half(uint16_t h) { return _cvtsh_ss(h); }

// out[r] = dot(weight row, activation row r) for R activation rows a_stride bytes apart.
template <QWeightType T, int R>
XQ_AVX2 void DotRows(const void* w_row, const uint8_t* a, size_t a_stride, const ActScales& sc,
                     int64_t nb, float* out) {
  using WBlock =
      std::conditional_t<T == QWeightType::kQ4_0, BlockQ4_0,
                         std::conditional_t<T == QWeightType::kQ4_1, BlockQ4_1, BlockQ8_0>>;
  using ABlock = std::conditional_t<T == QWeightType::kQ4_1, BlockQ8_1, BlockQ8_0>;
  const auto* w = static_cast<const WBlock*>(w_row);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  __m256 summs = _mm256_setzero_ps();  // lane r: row r's sum of m * s
  for (int64_t b = 0; b < nb; ++b) {
    // Lane r is the scalar dw * da[r] (and fma(m, s[r], summs[r])) that ggml computes per row.
    alignas(32) float dd[8];
    _mm256_store_ps(
        dd, _mm256_mul_ps(_mm256_set1_ps(Half(w[b].d)), _mm256_loadu_ps(sc.d + b * sc.stride)));
    // Q4_1 multiplies unsigned nibbles directly; the others use ggml's sign trick (|w| * sign).
    __m256i wu;
    __m256i ws = _mm256_setzero_si256();
    if constexpr (T == QWeightType::kQ4_1) {
      wu = Nibbles(w[b].qs);
      summs = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[b].m)), _mm256_loadu_ps(sc.s + b * sc.stride),
                              summs);
    } else {
      if constexpr (T == QWeightType::kQ4_0) {
        ws = _mm256_sub_epi8(Nibbles(w[b].qs), _mm256_set1_epi8(8));
      } else {
        ws = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
      }
      wu = _mm256_sign_epi8(ws, ws);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const auto* ab = reinterpret_cast<const ABlock*>(a + r * a_stride) + b;
      __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab->qs));
      if constexpr (T != QWeightType::kQ4_1) q = _mm256_sign_epi8(q, ws);
      acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[r]), DotU8S8(wu, q), acc[r]);
    }
  }
  alignas(32) float ms[8];
  _mm256_store_ps(ms, summs);
  for (int r = 0; r < R; ++r) {
    out[r] = T == QWeightType::kQ4_1 ? HSum(acc[r]) + ms[r] : HSum(acc[r]);
  }
}

template <QWeightType T, int R>
XQ_AVX2 void TileImpl(const QGemmParams& p, const ActScales& sc, int64_t o0, int64_t o1,
                      int64_t r0) {
  const int64_t nb = p.in / kGgmlBlock;
  const size_t w_row = nb * QWeightBlockBytes(T);
  const size_t a_row = nb * QActivationBlockBytes(T);
  const auto* a = static_cast<const uint8_t*>(p.xq) + r0 * a_row;
  const ActScales tile_sc{sc.d + r0, sc.s ? sc.s + r0 : nullptr, sc.stride};
  float v[R];
  for (int64_t o = o0; o < o1; ++o) {
    DotRows<T, R>(static_cast<const uint8_t*>(p.w) + o * w_row, a, a_row, tile_sc, nb, v);
    for (int r = 0; r < R; ++r) {
      float& dst = p.y[(r0 + r) * p.out + o];
      dst = p.accumulate ? dst + v[r] : v[r];
    }
  }
}

using TileFn = void (*)(const QGemmParams&, const ActScales&, int64_t, int64_t, int64_t);

template <QWeightType T, int... R>
constexpr auto MakeTable(std::integer_sequence<int, R...>) {
  return std::array<TileFn, sizeof...(R)>{&TileImpl<T, R + 1>...};
}

constexpr auto kSeq = std::make_integer_sequence<int, kMaxTileRows>{};
constexpr auto kQ40Tiles = MakeTable<QWeightType::kQ4_0>(kSeq);
constexpr auto kQ41Tiles = MakeTable<QWeightType::kQ4_1>(kSeq);
constexpr auto kQ80Tiles = MakeTable<QWeightType::kQ8_0>(kSeq);

}  // namespace

XQ_AVX2 void QuantizeBlocks(bool q8_1, const float* x, int64_t n, void* xq) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t i = 0; i < n; ++i, x += kGgmlBlock) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max = _mm_cvtss_f32(m4);
    const float d = max / 127.0f;
    const __m256 id = _mm256_set1_ps(max != 0.0f ? 127.0f / max : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      const __m256 rounded =
          _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q[k] = _mm256_cvtps_epi32(rounded);
    }
    // packs works per 128-bit half, so the dwords come out as 0,2,4,6,1,3,5,7; `order` undoes it.
    const __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
    const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    if (q8_1) {
      auto& blk = static_cast<BlockQ8_1*>(xq)[i];
      const __m256i s8 =
          _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
      s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
      const float sum = static_cast<float>(_mm_cvtsi128_si32(s4));
      blk.d = dh;
      blk.s = _cvtss_sh(d * sum, _MM_FROUND_TO_NEAREST_INT);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs), q8);
    } else {
      auto& blk = static_cast<BlockQ8_0*>(xq)[i];
      blk.d = dh;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs), q8);
    }
  }
}

XQ_AVX2 void ConvertScales(bool q8_1, const void* xq, int64_t rows, int64_t nb, int64_t stride,
                           float* d, float* s) {
  std::fill_n(d, nb * stride, 0.0f);
  if (q8_1) std::fill_n(s, nb * stride, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      if (q8_1) {
        const auto& blk = static_cast<const BlockQ8_1*>(xq)[r * nb + b];
        d[b * stride + r] = Half(blk.d);
        s[b * stride + r] = Half(blk.s);
      } else {
        d[b * stride + r] = Half(static_cast<const BlockQ8_0*>(xq)[r * nb + b].d);
      }
    }
  }
}

void Tile(const QGemmParams& p, const ActScales& scales, int64_t o0, int64_t o1, int64_t r0,
          int nr) {
  const auto& table = p.type == QWeightType::kQ4_0   ? kQ40Tiles
                      : p.type == QWeightType::kQ4_1 ? kQ41Tiles
                                                     : kQ80Tiles;
  table[nr - 1](p, scales, o0, o1, r0);
}

}  // namespace xq::qgemm_avx2
