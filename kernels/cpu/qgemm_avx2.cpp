// AVX2 quantized matmul over the packed layout (qgemm_layout.h): one 32-byte register holds 4
// consecutive codes of each of 8 output features (half a packed group), so a broadcast of 4
// activation codes feeds all 8 outputs with one vpmaddubsw. Eight of those
// (one 32-block of unsigned 4-bit codes times signed 8-bit activations) are summed exactly in
// 16 bits (8 * 2 * 15 * 128 < 2^15), widened once, and each block costs one float multiply-add
// per 8 outputs and row: the integer work per MAC is close to the CPU's int8 peak loop.
// 8-bit weights (Q8_0) take ggml's sign trick instead: |w| times the activation with w's sign.
#include "kernels/cpu/qgemm_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/qgemm_kquant_pack.h"
#include "kernels/cpu/qgemm_layout.h"
#include "kernels/include/ggml_blocks.h"

#define XQ_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace xq::qgemm_avx2 {
namespace {

using qgemm_layout::kGroupCols;
using qgemm_layout::kPlaneBytes;
using qgemm_layout::kVectorBytes;
using qgemm_layout::PackedBlockBytes;
using qgemm_layout::Planes;
constexpr int kHalfCols = 8;  // output features per AVX2 register

XQ_AVX2 inline float Half(uint16_t h) { return _cvtsh_ss(h); }

XQ_AVX2 inline __m256 Halves8(const uint16_t* h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

// Four 16-byte code arrays in GGML nibble order (byte i: code i low, code i + 16 high) for
// outputs c and c + 4, c = 0..3, become 32 bytes of each of the four vectors of one plane:
// vector t holds bytes 4t..4t+3 of outputs 0..7, i.e. codes 4t.. (low nibbles) and 16 + 4t..
// (high nibbles). Vectors are `vector_bytes` apart (wider groups interleave several such).
XQ_AVX2 void TransposePlane(const __m128i* q, uint8_t* plane, int vector_bytes) {
  __m256i x[4];
  for (int c = 0; c < 4; ++c) x[c] = _mm256_set_m128i(q[c + 4], q[c]);
  const __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpacklo_epi32(x[2], x[3]);
  const __m256i t2 = _mm256_unpackhi_epi32(x[0], x[1]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
  const __m256i v[4] = {_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1),
                        _mm256_unpacklo_epi64(t2, t3), _mm256_unpackhi_epi64(t2, t3)};
  for (int t = 0; t < 4; ++t) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(plane + t * vector_bytes), v[t]);
  }
}

template <QWeightType T>
XQ_AVX2 void PackGroupImpl(const uint8_t* w, int64_t nb, int ncols, uint8_t* packed) {
  using WBlock =
      std::conditional_t<T == QWeightType::kQ4_0, BlockQ4_0,
                         std::conditional_t<T == QWeightType::kQ4_1, BlockQ4_1, BlockQ8_0>>;
  static const WBlock kZero{};  // missing outputs: zero scale, zero min
  for (int64_t b = 0; b < nb; ++b, packed += PackedBlockBytes(T)) {
    __m128i lo[kGroupCols], hi[kGroupCols];
    auto* halves = reinterpret_cast<uint16_t*>(packed + Planes(T) * kPlaneBytes);
    for (int c = 0; c < kGroupCols; ++c) {
      const WBlock& blk = c < ncols ? reinterpret_cast<const WBlock*>(w)[c * nb + b] : kZero;
      lo[c] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
      if constexpr (T == QWeightType::kQ8_0) {
        hi[c] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + 16));
      }
      halves[c] = blk.d;
      if constexpr (T == QWeightType::kQ4_1) halves[kGroupCols + c] = blk.m;
    }
    for (int c8 = 0; c8 < kGroupCols; c8 += kHalfCols) {
      TransposePlane(lo + c8, packed + c8 * 4, kVectorBytes);
      if constexpr (T == QWeightType::kQ8_0) {
        TransposePlane(hi + c8, packed + kPlaneBytes + c8 * 4, kVectorBytes);
      }
    }
  }
}

// Lanes = the 8 outputs' integer sums over one block of one plane: 4 code vectors, each one
// register of low nibbles and one of high nibbles, against broadcasts of 4 activation codes.
template <int M>
XQ_AVX2 inline void PlaneDots(const uint8_t* plane, const int8_t* const* a, __m256i* dots,
                              __m256i weight) {
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256i sums[M];
  for (int r = 0; r < M; ++r) sums[r] = _mm256_setzero_si256();
  for (int t = 0; t < 4; ++t) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(plane + t * kVectorBytes));
    const __m256i lo = _mm256_and_si256(v, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    for (int r = 0; r < M; ++r) {
      int32_t qa, qb;
      std::memcpy(&qa, a[r] + 4 * t, 4);
      std::memcpy(&qb, a[r] + 16 + 4 * t, 4);
      sums[r] = _mm256_add_epi16(sums[r], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(qa)));
      sums[r] = _mm256_add_epi16(sums[r], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(qb)));
    }
  }
  for (int r = 0; r < M; ++r)
    dots[r] = _mm256_add_epi32(dots[r], _mm256_madd_epi16(sums[r], weight));
}

// Q8_0: dots[r] += the 8 outputs' exact signed dots over one block, as ggml does it on AVX2:
// vpmaddubsw of |w| with the activation codes carrying w's sign (pairs stay below 2^15 for
// activation codes in [-127, 127], which QuantizeActivations guarantees).
template <int M>
XQ_AVX2 inline void SignedDots(const uint8_t* packed, const int8_t* const* a, __m256i* dots) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int t = 0; t < 8; ++t) {
    const __m256i w =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed + t * kVectorBytes));
    const __m256i magnitude = _mm256_sign_epi8(w, w);
    for (int r = 0; r < M; ++r) {
      int32_t q;
      std::memcpy(&q, a[r] + 4 * t, 4);
      const __m256i signed_a = _mm256_sign_epi8(_mm256_set1_epi32(q), w);
      dots[r] = _mm256_add_epi32(
          dots[r], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed_a), ones));
    }
  }
}

// Q6_K: low[r] / high[r] = the 8 outputs' (codes - 32) . a over codes 0..15 / 16..31 of one
// packed block (see the AVX-512 Q6Dots). vpmaddubsw pairs of 6-bit codes stay below
// 2 * 63 * 127, so two vectors' pairs are summed in 16 bits before widening.
template <int M>
XQ_AVX2 inline void Q6Dots(const uint8_t* blk, int h, const int8_t* const* a,
                           const int32_t* const* corr, __m256i* low, __m256i* high) {
  const __m256i m4 = _mm256_set1_epi8(15), top = _mm256_set1_epi8(0x30);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < M; ++r) {
    low[r] = _mm256_set1_epi32(corr[r][0]);
    high[r] = _mm256_set1_epi32(corr[r][1]);
  }
  for (int u = 0; u < 2; ++u) {
    const __m256i bit_pair = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(blk + kPlaneBytes + u * kVectorBytes + h * 32));
    __m256i pairs0[M], pairs1[M];
    for (int k = 0; k < 2; ++k) {
      const int t = 2 * u + k;
      const __m256i v =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + t * kVectorBytes + h * 32));
      const __m256i bits = k ? _mm256_srli_epi16(bit_pair, 4) : bit_pair;
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(bits, 4), top));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(bits, 2), top));
      for (int r = 0; r < M; ++r) {
        int32_t qa, qb;
        std::memcpy(&qa, a[r] + 4 * t, 4);
        std::memcpy(&qb, a[r] + 16 + 4 * t, 4);
        const __m256i x0 = _mm256_maddubs_epi16(lo, _mm256_set1_epi32(qa));
        const __m256i x1 = _mm256_maddubs_epi16(hi, _mm256_set1_epi32(qb));
        pairs0[r] = k ? _mm256_add_epi16(pairs0[r], x0) : x0;
        pairs1[r] = k ? _mm256_add_epi16(pairs1[r], x1) : x1;
      }
    }
    for (int r = 0; r < M; ++r) {
      low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(pairs0[r], ones));
      high[r] = _mm256_add_epi32(high[r], _mm256_madd_epi16(pairs1[r], ones));
    }
  }
}

// 8 signed bytes as floats.
XQ_AVX2 inline __m256 SignedBytes8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// 8 unsigned bytes as floats.
XQ_AVX2 inline __m256 Bytes8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// Outputs 8h..8h+7 of a packed group for M activation rows starting at r0, all blocks: per block
// acc = fma(dw * da, I, acc) with I the exact integer dot (offsets folded in; Q4_K's dw is
// d * sc), then for Q4_1 acc = fma(m, s, acc) and for Q4_K acc = fma(-(dmin * m), s, acc);
// Q6_K does it for each 16-code half with dw = d * its scale -- QGemmReference's order.
template <QWeightType T, int M>
XQ_AVX2 void Kernel(const uint8_t* packed, int h, const ActTerms& act, int64_t r0, __m256* acc) {
  const int8_t* a[M];
  for (int r = 0; r < M; ++r) acc[r] = _mm256_setzero_ps();
  const int64_t nb = act.nb;
  const uint8_t* tail = packed + nb * PackedBlockBytes(T);  // K-quants: superblocks' fp16 scales
  __m256 super_d = _mm256_setzero_ps(), super_dmin = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, packed += PackedBlockBytes(T)) {
    for (int r = 0; r < M; ++r) {
      a[r] =
          reinterpret_cast<const int8_t*>(act.qs + (r0 + r) * act.row_bytes + b * act.block_bytes);
    }
    __m256i dots[M], dots_high[M];  // dots_high: Q6_K's codes 16..31
    for (int r = 0; r < M; ++r) {
      dots[r] = T == QWeightType::kQ4_0 ? _mm256_set1_epi32(act.corr[(r0 + r) * nb + b])
                                        : _mm256_setzero_si256();
    }
    if constexpr (T == QWeightType::kQ8_0) {
      SignedDots<M>(packed + h * 32, a, dots);
    } else if constexpr (T == QWeightType::kQ6_K) {
      const int32_t* corr[M];
      for (int r = 0; r < M; ++r) corr[r] = act.corr + 2 * ((r0 + r) * nb + b);
      Q6Dots<M>(packed, h, a, corr, dots, dots_high);
    } else {
      PlaneDots<M>(packed + h * 32, a, dots, _mm256_set1_epi16(1));
    }
    const auto* halves = reinterpret_cast<const uint16_t*>(packed + Planes(T) * kPlaneBytes);
    __m256 dw, dm = _mm256_setzero_ps(), dw_high = _mm256_setzero_ps();
    if constexpr (qgemm_layout::IsKQuant(T)) {
      if (b % qgemm_layout::kBlocksPerSuper == 0) {  // a new superblock's fp16 scales
        const auto* super = reinterpret_cast<const uint16_t*>(
            tail + b / qgemm_layout::kBlocksPerSuper * qgemm_layout::PackedSuperBytes(T));
        super_d = Halves8(super + h * kHalfCols);
        if constexpr (T == QWeightType::kQ4_K) {
          super_dmin = Halves8(super + kGroupCols + h * kHalfCols);
        }
      }
      dw = super_d;
    } else {
      dw = Halves8(halves + h * kHalfCols);
    }
    if constexpr (T == QWeightType::kQ4_K) {  // d * sc and dmin * m, both exact
      const uint8_t* sc = packed + qgemm_layout::PackedScalesOffset(T) + h * kHalfCols;
      dw = _mm256_mul_ps(dw, Bytes8(sc));
      dm = _mm256_mul_ps(super_dmin, Bytes8(sc + kGroupCols));
    }
    if constexpr (T == QWeightType::kQ6_K) {  // d * each half's scale, exact
      const uint8_t* sc = packed + qgemm_layout::PackedScalesOffset(T) + h * kHalfCols;
      dw_high = _mm256_mul_ps(dw, SignedBytes8(sc + kGroupCols));
      dw = _mm256_mul_ps(dw, SignedBytes8(sc));
    }
    for (int r = 0; r < M; ++r) {
      const __m256 da = _mm256_set1_ps(act.d[(r0 + r) * nb + b]);
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(dots[r]), acc[r]);
      if constexpr (T == QWeightType::kQ6_K) {
        acc[r] =
            _mm256_fmadd_ps(_mm256_mul_ps(dw_high, da), _mm256_cvtepi32_ps(dots_high[r]), acc[r]);
      }
      if constexpr (T == QWeightType::kQ4_1) {
        acc[r] = _mm256_fmadd_ps(Halves8(halves + kGroupCols + h * kHalfCols),
                                 _mm256_set1_ps(act.s[(r0 + r) * nb + b]), acc[r]);
      } else if constexpr (T == QWeightType::kQ4_K) {
        acc[r] = _mm256_fnmadd_ps(dm, _mm256_set1_ps(act.s[(r0 + r) * nb + b]), acc[r]);
      }
    }
  }
}

template <QWeightType T, int M>
XQ_AVX2 void TileImpl(const uint8_t* packed, const ActTerms& act, int64_t r0, float* y,
                      int64_t y_stride, int ncols, bool accumulate) {
  for (int h = 0; h * kHalfCols < ncols; ++h) {
    __m256 acc[M];
    Kernel<T, M>(packed, h, act, r0, acc);
    const int n = std::min(kHalfCols, ncols - h * kHalfCols);
    for (int r = 0; r < M; ++r) {
      float* dst = y + (r0 + r) * y_stride + h * kHalfCols;
      if (n == kHalfCols) {
        const __m256 v = accumulate ? _mm256_add_ps(_mm256_loadu_ps(dst), acc[r]) : acc[r];
        _mm256_storeu_ps(dst, v);
        continue;
      }
      alignas(32) float v[kHalfCols];
      _mm256_store_ps(v, acc[r]);
      for (int c = 0; c < n; ++c) dst[c] = accumulate ? dst[c] + v[c] : v[c];
    }
  }
}

template <QWeightType T>
void Tile(const uint8_t* packed, const ActTerms& act, int64_t r0, int nr, float* y,
          int64_t y_stride, int ncols, bool accumulate) {
  static_assert(kTileRows == 4);
  switch (nr) {
    case 1:
      return TileImpl<T, 1>(packed, act, r0, y, y_stride, ncols, accumulate);
    case 2:
      return TileImpl<T, 2>(packed, act, r0, y, y_stride, ncols, accumulate);
    case 3:
      return TileImpl<T, 3>(packed, act, r0, y, y_stride, ncols, accumulate);
    default:
      return TileImpl<T, 4>(packed, act, r0, y, y_stride, ncols, accumulate);
  }
}

// Integer sums of 16 activation codes, in every lane.
XQ_AVX2 inline __m128i CodeSum16(const int8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), q), _mm_set1_epi16(1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
}

// Integer sum of one block's 32 activation codes.
XQ_AVX2 inline int32_t CodeSum(const int8_t* qs) {
  return _mm_cvtsi128_si32(_mm_add_epi32(CodeSum16(qs), CodeSum16(qs + 16)));
}

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

XQ_AVX2 void ComputeActTerms(QWeightType type, const void* xq, int64_t r0, int64_t r1,
                             int64_t nb, float* d, float* s, int32_t* corr) {
  for (int64_t i = r0 * nb; i < r1 * nb; ++i) {
    if (type == QWeightType::kQ4_1 || type == QWeightType::kQ4_K) {
      const auto& blk = static_cast<const BlockQ8_1*>(xq)[i];
      d[i] = Half(blk.d);
      s[i] = Half(blk.s);
    } else {
      const auto& blk = static_cast<const BlockQ8_0*>(xq)[i];
      d[i] = Half(blk.d);
      if (type == QWeightType::kQ4_0) corr[i] = -8 * CodeSum(blk.qs);
      if (type == QWeightType::kQ6_K) {  // Q6_K codes carry +32 per 16-code half
        corr[2 * i] = -32 * _mm_cvtsi128_si32(CodeSum16(blk.qs));
        corr[2 * i + 1] = -32 * _mm_cvtsi128_si32(CodeSum16(blk.qs + 16));
      }
    }
  }
}

XQ_AVX2 void ShiftCodes(const void* xq, int64_t r0, int64_t r1, int64_t nb, uint8_t* shifted) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = r0 * nb; i < r1 * nb; ++i) {
    const auto& blk = static_cast<const BlockQ8_0*>(xq)[i];
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(shifted + i * kGgmlBlock),
                        _mm256_xor_si256(q, flip));
  }
}

void PackGroup(QWeightType type, const void* w, int64_t nb, int64_t o0, int ncols,
               uint8_t* packed) {
  const auto* first = static_cast<const uint8_t*>(w) + o0 * QWeightRowBytes(type, nb * kGgmlBlock);
  switch (type) {
    case QWeightType::kQ4_K:
    case QWeightType::kQ6_K:
      return qgemm_kquant::PackGroup(type, first, nb, ncols, packed);
    case QWeightType::kQ4_0:
      return PackGroupImpl<QWeightType::kQ4_0>(first, nb, ncols, packed);
    case QWeightType::kQ4_1:
      return PackGroupImpl<QWeightType::kQ4_1>(first, nb, ncols, packed);
    case QWeightType::kQ8_0:
      return PackGroupImpl<QWeightType::kQ8_0>(first, nb, ncols, packed);
  }
}

void GroupTile(QWeightType type, const uint8_t* packed, const ActTerms& act, int64_t r0, int nr,
               float* y, int64_t y_stride, int ncols, bool accumulate) {
  switch (type) {
    case QWeightType::kQ4_0:
      return Tile<QWeightType::kQ4_0>(packed, act, r0, nr, y, y_stride, ncols, accumulate);
    case QWeightType::kQ4_1:
      return Tile<QWeightType::kQ4_1>(packed, act, r0, nr, y, y_stride, ncols, accumulate);
    case QWeightType::kQ8_0:
      return Tile<QWeightType::kQ8_0>(packed, act, r0, nr, y, y_stride, ncols, accumulate);
    case QWeightType::kQ4_K:
      return Tile<QWeightType::kQ4_K>(packed, act, r0, nr, y, y_stride, ncols, accumulate);
    case QWeightType::kQ6_K:
      return Tile<QWeightType::kQ6_K>(packed, act, r0, nr, y, y_stride, ncols, accumulate);
  }
}

}  // namespace xq::qgemm_avx2
