// Scalar truth for the quantized matmul: ggml's x86 AVX2 activation quantizers, then per block an
// exact integer dot product scaled and summed in fp32 in block order.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/include/ggml_blocks.h"
#include "kernels/include/qgemm.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

// Returns d (fp32, unrounded) and writes q = round-half-even(x * 127 / amax), as ggml's AVX2
// quantize_row_q8_0/q8_1 do (the scalar _ref versions use roundf and 1 / d and differ).
float QuantizeBlock(const float* x, int8_t* q, int32_t* sum) {
  float amax = 0.0f;
  for (int j = 0; j < kGgmlBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32_t s = 0;
  for (int j = 0; j < kGgmlBlock; ++j) {
    const int32_t v = static_cast<int32_t>(std::nearbyint(x[j] * id));
    s += v;
    q[j] = static_cast<int8_t>(std::clamp(v, -128, 127));
  }
  *sum = s;
  return d;
}

void Unpack4(const uint8_t* qs, int32_t offset, int32_t* wq) {
  for (int j = 0; j < kGgmlBlock / 2; ++j) {
    wq[j] = (qs[j] & 15) - offset;
    wq[j + kGgmlBlock / 2] = (qs[j] >> 4) - offset;
  }
}

constexpr int kSubBlocks = kGgmlSuperBlock / kGgmlBlock;  // 32-blocks per K-quant block

int32_t IntDot(const int32_t* wq, const int8_t* aq) {
  int32_t s = 0;
  for (int j = 0; j < kGgmlBlock; ++j) s += wq[j] * aq[j];
  return s;
}

// Per 32-block: acc = fma(dw * da, exact integer dot, acc); Q4_1 then adds its min as
// acc = fma(m, s, acc) with the activation block's s = fp16(d * sum(codes)), as ggml does, and
// Q4_K its -(dmin * m) the same way. Q6_K's two 16-code halves count as blocks of their own.
float Dot(QWeightType type, const void* w_row, const void* a_row, int64_t nb) {
  float acc = 0.0f;
  int32_t wq[kGgmlBlock];
  for (int64_t b = 0; b < nb; ++b) {
    switch (type) {
      case QWeightType::kQ4_0: {
        const auto& w = static_cast<const BlockQ4_0*>(w_row)[b];
        const auto& a = static_cast<const BlockQ8_0*>(a_row)[b];
        Unpack4(w.qs, 8, wq);
        acc = std::fma(HalfToFloat(w.d) * HalfToFloat(a.d), float(IntDot(wq, a.qs)), acc);
        break;
      }
      case QWeightType::kQ4_1: {
        const auto& w = static_cast<const BlockQ4_1*>(w_row)[b];
        const auto& a = static_cast<const BlockQ8_1*>(a_row)[b];
        Unpack4(w.qs, 0, wq);
        acc = std::fma(HalfToFloat(w.d) * HalfToFloat(a.d), float(IntDot(wq, a.qs)), acc);
        acc = std::fma(HalfToFloat(w.m), HalfToFloat(a.s), acc);
        break;
      }
      case QWeightType::kQ8_0: {
        const auto& w = static_cast<const BlockQ8_0*>(w_row)[b];
        const auto& a = static_cast<const BlockQ8_0*>(a_row)[b];
        for (int j = 0; j < kGgmlBlock; ++j) wq[j] = w.qs[j];
        acc = std::fma(HalfToFloat(w.d) * HalfToFloat(a.d), float(IntDot(wq, a.qs)), acc);
        break;
      }
      case QWeightType::kQ4_K: {  // (d * sc) * q - (dmin * m), both products exact in fp32
        const auto& w = static_cast<const BlockQ4_K*>(w_row)[b / kSubBlocks];
        const auto& a = static_cast<const BlockQ8_1*>(a_row)[b];
        const int sub = static_cast<int>(b % kSubBlocks);
        for (int j = 0; j < kGgmlBlock; ++j) wq[j] = Q4KCode(w, kGgmlBlock * sub + j);
        int sc, m;
        KQuantScaleMin(sub, w.scales, &sc, &m);
        const float scale = HalfToFloat(w.d) * float(sc), min = HalfToFloat(w.dmin) * float(m);
        acc = std::fma(scale * HalfToFloat(a.d), float(IntDot(wq, a.qs)), acc);
        acc = std::fma(-min, HalfToFloat(a.s), acc);
        break;
      }
      case QWeightType::kQ6_K: {  // each 16-code half as a block of its own, scale d * sc exact
        const auto& w = static_cast<const BlockQ6_K*>(w_row)[b / kSubBlocks];
        const auto& a = static_cast<const BlockQ8_0*>(a_row)[b];
        const int sub = static_cast<int>(b % kSubBlocks);
        for (int j = 0; j < kGgmlBlock; ++j) wq[j] = Q6KCode(w, kGgmlBlock * sub + j) - 32;
        int32_t halves[2] = {0, 0};
        for (int j = 0; j < kGgmlBlock; ++j) halves[j / 16] += wq[j] * a.qs[j];
        for (int h = 0; h < 2; ++h) {
          const float scale = HalfToFloat(w.d) * float(w.scales[2 * sub + h]);
          acc = std::fma(scale * HalfToFloat(a.d), float(halves[h]), acc);
        }
        break;
      }
    }
  }
  return acc;
}

}  // namespace

void QuantizeActivationsReference(QWeightType type, const float* x, int64_t rows, int64_t in,
                                  void* xq) {
  assert(in % kGgmlBlock == 0);
  const int64_t n = rows * (in / kGgmlBlock);
  int32_t sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* xb = x + i * kGgmlBlock;
    if (QActivationBlockBytes(type) == sizeof(BlockQ8_1)) {
      auto& blk = static_cast<BlockQ8_1*>(xq)[i];
      const float d = QuantizeBlock(xb, blk.qs, &sum);
      blk.d = FloatToHalf(d);
      blk.s = FloatToHalf(d * static_cast<float>(sum));  // the fp32 d, not the stored fp16 one
    } else {
      auto& blk = static_cast<BlockQ8_0*>(xq)[i];
      blk.d = FloatToHalf(QuantizeBlock(xb, blk.qs, &sum));
    }
  }
}

void QGemmReference(const QGemmParams& p) {
  assert(p.in % QWeightBlockValues(p.type) == 0);
  if (p.packed) {  // back to GGML blocks, byte for byte
    std::vector<uint8_t> blocks(p.out * QWeightRowBytes(p.type, p.in));
    const size_t row_bytes = blocks.size() / std::max<int64_t>(p.out, 1);
    for (int64_t o = 0; o < p.out; ++o) {
      UnpackQWeightRow(p.type, p.w, p.in, o, blocks.data() + o * row_bytes);
    }
    QGemmParams ggml = p;
    ggml.w = blocks.data();
    ggml.packed = false;
    return QGemmReference(ggml);
  }
  const int64_t nb = p.in / kGgmlBlock;
  const size_t w_row = QWeightRowBytes(p.type, p.in);
  const size_t a_row = nb * QActivationBlockBytes(p.type);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t o = 0; o < p.out; ++o) {
      const float v = Dot(p.type, static_cast<const uint8_t*>(p.w) + o * w_row,
                          static_cast<const uint8_t*>(p.xq) + r * a_row, nb);
      float& dst = p.y[r * p.out + o];
      dst = p.accumulate ? dst + v : v;
    }
  }
}

}  // namespace xq
