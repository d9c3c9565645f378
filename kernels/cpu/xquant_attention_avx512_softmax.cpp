// AVX-512 softmax over one score row of XQuant attention (see xquant_attention_avx512.h).
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/xquant_attention_avx512.h"

// GCC 12 reports its own _mm512_undefined_*() placeholders inside the intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define XQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,bmi2")))
#define XQ_INLINE XQ_AVX512 inline __attribute__((always_inline))

namespace xq::xq_avx512 {
namespace {

// exp(x) for x <= 0 (Cephes polynomial, about 1 ulp); underflows to 0 below -87.
XQ_INLINE __m512 Exp(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, n);
}

}  // namespace

XQ_AVX512 void Softmax(float* row, int64_t n) {
  __m512 mv = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(row + i));
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
  mv = _mm512_mask_max_ps(mv, tail, mv, _mm512_maskz_loadu_ps(tail, row + i));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
  __m512 sv = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    const __m512 e = Exp(_mm512_sub_ps(_mm512_loadu_ps(row + i), m));
    _mm512_storeu_ps(row + i, e);
    sv = _mm512_add_ps(sv, e);
  }
  const __m512 e =
      _mm512_maskz_mov_ps(tail, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + i), m)));
  _mm512_mask_storeu_ps(row + i, tail, e);
  sv = _mm512_add_ps(sv, e);
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sv));
  for (i = 0; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inv));
  }
  _mm512_mask_storeu_ps(row + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + i), inv));
}

}  // namespace xq::xq_avx512
