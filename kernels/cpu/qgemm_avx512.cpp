// AVX-512 VNNI quantized matmul microkernel. Same packed layout (qgemm_layout.h) and arithmetic
// as the AVX2 one (qgemm_avx2.cpp), a whole group of 16 output features per register, and vpdpbusd accumulates each 4-code
// product straight into 32 bits: one instruction per 64 multiply-adds, the CPU's int8 peak loop.
#include "kernels/cpu/qgemm_avx512.h"

#include "kernels/cpu/qgemm_layout.h"
#include "kernels/include/ggml_blocks.h"

#include <immintrin.h>

#include <cstring>
#include <utility>

#define XQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace xq::qgemm_avx512 {
namespace {

using qgemm_avx2::ActTerms;
using qgemm_layout::kGroupCols;
using qgemm_layout::kPlaneBytes;
using qgemm_layout::kVectorBytes;

XQ_AVX512 inline __m512 Halves16(const uint16_t* h) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
}

// dots[r] += the 16 outputs' integer sums over one block of unsigned 4-bit codes.
template <int M>
XQ_AVX512 inline void PlaneDots(const uint8_t* plane, const int8_t* const* a, __m512i* dots) {
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512i sums[M];
  for (int r = 0; r < M; ++r) sums[r] = _mm512_setzero_si512();
  for (int t = 0; t < 4; ++t) {
    const __m512i v = _mm512_loadu_si512(plane + kVectorBytes * t);
    const __m512i lo = _mm512_and_si512(v, m4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    for (int r = 0; r < M; ++r) {
      int32_t qa, qb;
      std::memcpy(&qa, a[r] + 4 * t, 4);
      std::memcpy(&qb, a[r] + 16 + 4 * t, 4);
      sums[r] = _mm512_dpbusd_epi32(sums[r], lo, _mm512_set1_epi32(qa));
      sums[r] = _mm512_dpbusd_epi32(sums[r], hi, _mm512_set1_epi32(qb));
    }
  }
  for (int r = 0; r < M; ++r) dots[r] = _mm512_add_epi32(dots[r], sums[r]);
}

// Q8_0: dots[r] += the 16 outputs' exact signed dots over one block. vpdpbusd multiplies
// unsigned by signed bytes, so the activations come shifted to a + 128 (ActTerms::shifted) and
// 128 * sum(w), from one more vpdpbusd per vector shared by all rows, is taken off.
template <int M>
XQ_AVX512 inline void ShiftedDots(const uint8_t* packed, const uint8_t* const* a, __m512i* dots) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i weight_sums = _mm512_setzero_si512();
  for (int t = 0; t < 8; ++t) {
    const __m512i w = _mm512_loadu_si512(packed + kVectorBytes * t);
    weight_sums = _mm512_dpbusd_epi32(weight_sums, ones, w);
    for (int r = 0; r < M; ++r) {
      int32_t q;
      std::memcpy(&q, a[r] + 4 * t, 4);
      dots[r] = _mm512_dpbusd_epi32(dots[r], _mm512_set1_epi32(q), w);
    }
  }
  const __m512i offset = _mm512_slli_epi32(weight_sums, 7);
  for (int r = 0; r < M; ++r) dots[r] = _mm512_sub_epi32(dots[r], offset);
}

// Q6_K: low[r] / high[r] = the 16 outputs' (codes - 32) . a over codes 0..15 / 16..31 of one
// packed block, each half with its own scale: 6-bit codes are the plane's nibbles plus the high
// plane's 2 bits (see qgemm_layout.h); corr[r] holds -32 * the two halves' activation code sums.
template <int M>
XQ_AVX512 inline void Q6Dots(const uint8_t* blk, const int8_t* const* a, const int32_t* const* corr,
                             __m512i* low, __m512i* high) {
  const __m512i m4 = _mm512_set1_epi8(15), top = _mm512_set1_epi8(0x30);
  __m512i lo[4], hi[4];  // the 6-bit codes 4t.. and 16 + 4t.., decoded once for all rows
  for (int t = 0; t < 4; ++t) {
    const __m512i v = _mm512_loadu_si512(blk + kVectorBytes * t);
    __m512i bits = _mm512_loadu_si512(blk + kPlaneBytes + kVectorBytes * (t / 2));
    if (t % 2) bits = _mm512_srli_epi16(bits, 4);
    lo[t] =
        _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(_mm512_slli_epi16(bits, 4), top));
    hi[t] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                            _mm512_and_si512(_mm512_slli_epi16(bits, 2), top));
  }
  for (int r = 0; r < M; ++r) {
    low[r] = _mm512_set1_epi32(corr[r][0]);
    high[r] = _mm512_set1_epi32(corr[r][1]);
    for (int t = 0; t < 4; ++t) {
      int32_t qa, qb;
      std::memcpy(&qa, a[r] + 4 * t, 4);
      std::memcpy(&qb, a[r] + 16 + 4 * t, 4);
      low[r] = _mm512_dpbusd_epi32(low[r], lo[t], _mm512_set1_epi32(qa));
      high[r] = _mm512_dpbusd_epi32(high[r], hi[t], _mm512_set1_epi32(qb));
    }
  }
}

// 16 signed bytes as floats.
XQ_AVX512 inline __m512 SignedBytes16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// 16 unsigned bytes as floats.
XQ_AVX512 inline __m512 Bytes16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// QGemmReference's order per block: acc = fma(dw * da, I, acc), then Q4_1's acc = fma(m, s, acc)
// or Q4_K's acc = fma(-(dmin * m), s, acc); Q4_K's dw is d * sc. Q6_K: the same for each 16-code
// half with dw = d * its scale, the first half first.
template <QWeightType T, int M>
XQ_AVX512 void Kernel(const uint8_t* packed, const ActTerms& act, int64_t r0, __m512* acc) {
  constexpr size_t kBlock = qgemm_layout::PackedBlockBytes(T);
  constexpr int kPlanes = qgemm_layout::Planes(T);
  const int8_t* a[M];
  for (int r = 0; r < M; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t nb = act.nb;
  const uint8_t* tail = packed + nb * kBlock;  // K-quants: each superblock's fp16 scales
  __m512 super_d = _mm512_setzero_ps(), super_dmin = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, packed += kBlock) {
    for (int r = 0; r < M; ++r) {
      a[r] =
          reinterpret_cast<const int8_t*>(act.qs + (r0 + r) * act.row_bytes + b * act.block_bytes);
    }
    __m512i dots[M], dots_high[M];  // dots_high: Q6_K's codes 16..31
    for (int r = 0; r < M; ++r) {
      dots[r] = T == QWeightType::kQ4_0 ? _mm512_set1_epi32(act.corr[(r0 + r) * nb + b])
                                        : _mm512_setzero_si512();
    }
    if constexpr (T == QWeightType::kQ8_0) {
      const uint8_t* shifted[M];
      for (int r = 0; r < M; ++r) {
        shifted[r] = act.shifted + ((r0 + r) * nb + b) * kGgmlBlock;
      }
      ShiftedDots<M>(packed, shifted, dots);
    } else if constexpr (T == QWeightType::kQ6_K) {
      const int32_t* corr[M];
      for (int r = 0; r < M; ++r) corr[r] = act.corr + 2 * ((r0 + r) * nb + b);
      Q6Dots<M>(packed, a, corr, dots, dots_high);
    } else {
      PlaneDots<M>(packed, a, dots);
    }
    const auto* halves = reinterpret_cast<const uint16_t*>(packed + kPlanes * kPlaneBytes);
    __m512 dw, dm = _mm512_setzero_ps();
    if constexpr (qgemm_layout::IsKQuant(T)) {
      if (b % qgemm_layout::kBlocksPerSuper == 0) {  // a new superblock's fp16 scales
        const auto* super = reinterpret_cast<const uint16_t*>(
            tail + b / qgemm_layout::kBlocksPerSuper * qgemm_layout::PackedSuperBytes(T));
        super_d = Halves16(super);
        if constexpr (T == QWeightType::kQ4_K) super_dmin = Halves16(super + kGroupCols);
      }
      dw = super_d;
    } else {
      dw = Halves16(halves);
    }
    if constexpr (T == QWeightType::kQ4_K) {  // d * sc and dmin * m, both exact
      const uint8_t* sc = packed + qgemm_layout::PackedScalesOffset(T);
      dw = _mm512_mul_ps(dw, Bytes16(sc));
      dm = _mm512_mul_ps(super_dmin, Bytes16(sc + kGroupCols));
    }
    __m512 dw_high = _mm512_setzero_ps();
    if constexpr (T == QWeightType::kQ6_K) {  // d * each half's scale, exact
      const uint8_t* scales = packed + qgemm_layout::PackedScalesOffset(T);
      dw_high = _mm512_mul_ps(dw, SignedBytes16(scales + kGroupCols));
      dw = _mm512_mul_ps(dw, SignedBytes16(scales));
    }
    for (int r = 0; r < M; ++r) {
      const __m512 da = _mm512_set1_ps(act.d[(r0 + r) * nb + b]);
      acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(dots[r]), acc[r]);
      if constexpr (T == QWeightType::kQ6_K) {
        acc[r] =
            _mm512_fmadd_ps(_mm512_mul_ps(dw_high, da), _mm512_cvtepi32_ps(dots_high[r]), acc[r]);
      }
      if constexpr (T == QWeightType::kQ4_1) {
        acc[r] = _mm512_fmadd_ps(Halves16(halves + kGroupCols),
                                 _mm512_set1_ps(act.s[(r0 + r) * nb + b]), acc[r]);
      } else if constexpr (T == QWeightType::kQ4_K) {
        acc[r] = _mm512_fnmadd_ps(dm, _mm512_set1_ps(act.s[(r0 + r) * nb + b]), acc[r]);
      }
    }
  }
}

template <QWeightType T, int M>
XQ_AVX512 void TileImpl(const uint8_t* packed, const ActTerms& act, int64_t r0, float* y,
                        int64_t y_stride, int ncols, bool accumulate) {
  __m512 acc[M];
  Kernel<T, M>(packed, act, r0, acc);
  const __mmask16 mask = static_cast<__mmask16>((1u << ncols) - 1);
  for (int r = 0; r < M; ++r) {
    float* dst = y + (r0 + r) * y_stride;
    __m512 v = acc[r];
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), v);
    _mm512_mask_storeu_ps(dst, mask, v);
  }
}

template <QWeightType T, int... M>
void Tile(int nr, const uint8_t* packed, const ActTerms& act, int64_t r0, float* y,
          int64_t y_stride, int ncols, bool accumulate, std::integer_sequence<int, M...>) {
  using Fn = void (*)(const uint8_t*, const ActTerms&, int64_t, float*, int64_t, int, bool);
  static constexpr Fn kTiles[] = {&TileImpl<T, M + 1>...};
  kTiles[nr - 1](packed, act, r0, y, y_stride, ncols, accumulate);
}

}  // namespace

void GroupTile(QWeightType type, const uint8_t* packed, const ActTerms& act, int64_t r0, int nr,
               float* y, int64_t y_stride, int ncols, bool accumulate) {
  constexpr auto kRows = std::make_integer_sequence<int, kTileRows>{};
  switch (type) {
    case QWeightType::kQ4_0:
      return Tile<QWeightType::kQ4_0>(nr, packed, act, r0, y, y_stride, ncols, accumulate, kRows);
    case QWeightType::kQ4_1:
      return Tile<QWeightType::kQ4_1>(nr, packed, act, r0, y, y_stride, ncols, accumulate, kRows);
    case QWeightType::kQ8_0:
      return Tile<QWeightType::kQ8_0>(nr, packed, act, r0, y, y_stride, ncols, accumulate, kRows);
    case QWeightType::kQ4_K:
      return Tile<QWeightType::kQ4_K>(nr, packed, act, r0, y, y_stride, ncols, accumulate, kRows);
    case QWeightType::kQ6_K:
      return Tile<QWeightType::kQ6_K>(nr, packed, act, r0, y, y_stride, ncols, accumulate, kRows);
  }
}

}  // namespace xq::qgemm_avx512
