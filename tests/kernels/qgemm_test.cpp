// Quantized matmul: AVX2 vs scalar reference (bit-exact), the reference vs direct formulas, and
// batch invariance.
#include "kernels/include/qgemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/qgemm_isa.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/reference/half.h"
#include "tests/kernels/qgemm_test_util.h"

namespace xq {
namespace {

using qgemm_test::ExpectAccumulateAddsToY;
using qgemm_test::ExpectQGemmMatchesReference;
using qgemm_test::ExpectRowsIndependentOfBatch;
using qgemm_test::QGemmIsas;
using qgemm_test::Quantize;
using qgemm_test::RandomActivations;

constexpr QWeightType kTypes[] = {QWeightType::kQ4_0, QWeightType::kQ4_1, QWeightType::kQ8_0};

std::string Name(QWeightType t) {
  return t == QWeightType::kQ4_0 ? "Q4_0" : t == QWeightType::kQ4_1 ? "Q4_1" : "Q8_0";
}

// Random weights in real GGUF form: fp16 scales of a typical magnitude, full-range quants.
std::vector<uint8_t> RandomWeights(QWeightType t, int64_t out, int64_t in, std::mt19937& rng) {
  const int64_t n = out * (in / kGgmlBlock);
  std::vector<uint8_t> bytes(n * QWeightBlockBytes(t));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> q8(-127, 127);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* blk = bytes.data() + i * QWeightBlockBytes(t);
    const uint16_t d = FloatToHalf(scale(rng));
    std::memcpy(blk, &d, 2);
    if (t == QWeightType::kQ8_0) {
      for (int j = 0; j < kGgmlBlock; ++j) blk[2 + j] = static_cast<uint8_t>(q8(rng));
      continue;
    }
    int off = 2;
    if (t == QWeightType::kQ4_1) {
      const uint16_t m = FloatToHalf(-8.0f * scale(rng));
      std::memcpy(blk + 2, &m, 2);
      off = 4;
    }
    for (int j = 0; j < kGgmlBlock / 2; ++j) blk[off + j] = static_cast<uint8_t>(byte(rng));
  }
  return bytes;
}

// The fast path must be what ran: on a CPU without AVX2 the SIMD kernel IS the reference.
void RequireAvx2() {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "this CPU has no AVX2: no fast path to test";
}

TEST(QuantizeActivations, SimdMatchesReferenceBitForBit) {
  RequireAvx2();
  const int64_t fast_before = QuantizeActivationsPaths().Of(KernelPath::kAvx2);
  int64_t calls = 0;
  std::mt19937 rng(7);
  for (QWeightType t : kTypes) {
    for (int64_t in : {32, 64, 576, 1536}) {
      for (int64_t rows : {1, 3, 40}) {
        std::vector<float> x = RandomActivations(rows, in, rng);
        std::vector<uint8_t> simd(QuantizedActivationBytes(t, rows, in), 0xAA);
        QuantizeActivations(t, x.data(), rows, in, simd.data());
        ++calls;
        EXPECT_EQ(simd, Quantize(t, x, rows, in)) << Name(t) << " in=" << in << " rows=" << rows;
      }
    }
  }
  EXPECT_EQ(QuantizeActivationsPaths().Of(KernelPath::kAvx2) - fast_before, calls);
}

// amax = 127 makes 127 / amax exactly 1, so x * id is x itself and ties are visible.
TEST(QuantizeActivations, RoundsHalvesToEven) {
  std::vector<float> x(kGgmlBlock, 0.0f);
  const float in[] = {2.5f, 3.5f, -2.5f, 0.5f, -0.5f, 1.5f, 126.5f, 127.0f};
  const int expect[] = {2, 4, -2, 0, 0, 2, 126, 127};
  std::copy(std::begin(in), std::end(in), x.begin());
  for (QWeightType t : {QWeightType::kQ8_0, QWeightType::kQ4_1}) {
    std::vector<uint8_t> simd(QuantizedActivationBytes(t, 1, kGgmlBlock));
    QuantizeActivations(t, x.data(), 1, kGgmlBlock, simd.data());
    for (const auto& xq : {simd, Quantize(t, x, 1, kGgmlBlock)}) {
      const size_t qs = t == QWeightType::kQ4_1 ? offsetof(BlockQ8_1, qs) : offsetof(BlockQ8_0, qs);
      const auto* q = reinterpret_cast<const int8_t*>(xq.data() + qs);
      for (int j = 0; j < 8; ++j) EXPECT_EQ(q[j], expect[j]) << Name(t) << " x=" << in[j];
      uint16_t d;
      std::memcpy(&d, xq.data(), 2);
      EXPECT_EQ(HalfToFloat(d), 1.0f);
      if (t == QWeightType::kQ4_1) {
        uint16_t s;
        std::memcpy(&s, xq.data() + 2, 2);
        EXPECT_EQ(HalfToFloat(s), 2 + 4 - 2 + 0 + 0 + 2 + 126 + 127);
      }
    }
  }
}

// s = fp16(d * sum) with the fp32 d = amax / 127, which differs from fp16(fp16(d) * sum) here.
TEST(QuantizeActivations, Q8_1SumUsesUnroundedScale) {
  std::vector<float> x(kGgmlBlock, 1.0f);
  x[0] = 1.3f;  // amax; all others quantize to round(127 / 1.3) = 98
  std::vector<uint8_t> xq(QuantizedActivationBytes(QWeightType::kQ4_1, 1, kGgmlBlock));
  QuantizeActivations(QWeightType::kQ4_1, x.data(), 1, kGgmlBlock, xq.data());
  BlockQ8_1 blk;
  std::memcpy(&blk, xq.data(), sizeof(blk));
  const float d = 1.3f / 127.0f;
  const float sum = 127.0f + 31.0f * 98.0f;
  EXPECT_EQ(blk.qs[1], 98);
  EXPECT_EQ(blk.s, FloatToHalf(d * sum));
  EXPECT_EQ(blk.d, FloatToHalf(d));
}

// Powers-of-two scales keep every float operation exact, so the result equals the formula.
TEST(QGemmReference, HandBuiltBlocksMatchFormulaExactly) {
  BlockQ4_0 w40[2];
  BlockQ4_1 w41[2];
  BlockQ8_0 w80[2], a80[2];
  BlockQ8_1 a81[2];
  double want40 = 0, want41 = 0, want80 = 0;
  for (int b = 0; b < 2; ++b) {
    const float dw = b ? 0.25f : 0.5f, da = b ? 2.0f : 0.125f, mw = b ? -1.0f : -0.5f;
    w40[b].d = w41[b].d = w80[b].d = FloatToHalf(dw);
    w41[b].m = FloatToHalf(mw);
    a80[b].d = a81[b].d = FloatToHalf(da);
    int sum_a = 0;
    for (int j = 0; j < kGgmlBlock; ++j) {
      const int nib = (j * 7 + b * 3) % 16;
      const int q = (j * 37 + b * 11) % 255 - 127;
      a80[b].qs[j] = a81[b].qs[j] = static_cast<int8_t>(q);
      w80[b].qs[j] = static_cast<int8_t>(-q / 2);
      sum_a += q;
      uint8_t& byte = j < 16 ? w40[b].qs[j] : w40[b].qs[j - 16];
      byte = j < 16 ? static_cast<uint8_t>(nib) : static_cast<uint8_t>(byte | nib << 4);
      want40 += double(dw) * da * (nib - 8) * q;
      want41 += double(dw) * da * nib * q;
      want80 += double(dw) * da * (-q / 2) * q;
    }
    std::memcpy(w41[b].qs, w40[b].qs, sizeof(w40[b].qs));
    a81[b].s = FloatToHalf(da * sum_a);
    want41 += double(mw) * HalfToFloat(a81[b].s);
  }
  const auto run = [](QWeightType t, const void* w, const void* xq) {
    float y = 0;
    QGemmReference({t, w, 1, 2 * kGgmlBlock, xq, 1, &y, false});
    return y;
  };
  EXPECT_EQ(run(QWeightType::kQ4_0, w40, a80), want40);
  EXPECT_EQ(run(QWeightType::kQ4_1, w41, a81), want41);
  EXPECT_EQ(run(QWeightType::kQ8_0, w80, a80), want80);
}

// Dequantize both sides and sum in double: the reference only reorders fp32 sums.
double Dequant(QWeightType t, const uint8_t* w, int j) {
  uint16_t d, m = 0;
  std::memcpy(&d, w, 2);
  if (t == QWeightType::kQ8_0) return HalfToFloat(d) * static_cast<int8_t>(w[2 + j]);
  const uint8_t* qs = w + (t == QWeightType::kQ4_1 ? 4 : 2);
  const int nib = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
  if (t == QWeightType::kQ4_0) return HalfToFloat(d) * (nib - 8);
  std::memcpy(&m, w + 2, 2);
  return double(HalfToFloat(d)) * nib + HalfToFloat(m);
}

TEST(QGemmReference, MatchesDequantizedFormula) {
  std::mt19937 rng(11);
  const int64_t out = 5, in = 576, rows = 3, nb = in / kGgmlBlock;
  for (QWeightType t : kTypes) {
    const auto w = RandomWeights(t, out, in, rng);
    const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
    std::vector<float> y(rows * out);
    QGemmReference({t, w.data(), out, in, xq.data(), rows, y.data(), false});
    const size_t wb = QWeightBlockBytes(t), ab = QActivationBlockBytes(t);
    const size_t aqs = t == QWeightType::kQ4_1 ? 4 : 2;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double want = 0, mag = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* wblk = w.data() + (o * nb + b) * wb;
          const uint8_t* ablk = xq.data() + (r * nb + b) * ab;
          uint16_t da;
          std::memcpy(&da, ablk, 2);
          for (int j = 0; j < kGgmlBlock; ++j) {
            const double term =
                Dequant(t, wblk, j) * HalfToFloat(da) * static_cast<int8_t>(ablk[aqs + j]);
            want += term;
            mag += std::fabs(term);
          }
        }
        // Q4_1's min term uses s = fp16(d * sum), one fp16 rounding per block on top.
        const double tol = (t == QWeightType::kQ4_1 ? 2e-3 : 1e-5) * mag;
        EXPECT_NEAR(y[r * out + o], want, tol) << Name(t) << " r=" << r << " o=" << o;
      }
    }
  }
}

TEST_F(QGemmIsas, SimdMatchesReferenceBitForBit) {
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    const int64_t fast_before = QGemmPaths().Of(path.counted);
    int64_t calls = 0;
    std::mt19937 rng(3);
    for (QWeightType t : kTypes) {
      for (int64_t in : {32, 64, 576, 1536}) {
        // Partial groups of 8 and 16 outputs and partial items.
        for (int64_t out : {1, 3, 8, 17, 64, 75}) {
          const auto w = RandomWeights(t, out, in, rng);
          ExpectQGemmMatchesReference(t, w, out, in, rng, path.name + (" " + Name(t)), &calls);
          if (HasFatalFailure()) return;
        }
      }
    }
    EXPECT_EQ(QGemmPaths().Of(path.counted) - fast_before, calls) << path.name;
  }
}

// Packed weights hold exactly the GGML bytes: every row comes back byte for byte, and the
// reference computes the same from either form.
TEST_F(QGemmIsas, PackedWeightsUnpackToTheSameBlocks) {
  std::mt19937 rng(17);
  for (QWeightType t : kTypes) {
    for (int64_t out : {1, 16, 37}) {
      const int64_t in = 96;
      const auto w = RandomWeights(t, out, in, rng);
      std::vector<uint8_t> packed(PackedQWeightBytes(t, out, in));
      PackQWeights(t, w.data(), out, in, packed.data());
      const size_t row_bytes = w.size() / out;
      for (int64_t o = 0; o < out; ++o) {
        std::vector<uint8_t> row(row_bytes);
        UnpackQWeightRow(t, packed.data(), in, o, row.data());
        ASSERT_EQ(row, std::vector<uint8_t>(w.begin() + o * row_bytes,
                                            w.begin() + (o + 1) * row_bytes))
            << Name(t) << " out=" << out << " row " << o;
      }
      const int64_t rows = 3;
      const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
      std::vector<float> from_blocks(rows * out), from_packed(rows * out);
      QGemmReference({t, w.data(), out, in, xq.data(), rows, from_blocks.data(), false});
      QGemmReference(
          {t, packed.data(), out, in, xq.data(), rows, from_packed.data(), false, true});
      EXPECT_EQ(from_packed, from_blocks) << Name(t);
    }
  }
}

TEST_F(QGemmIsas, RowResultsDoNotDependOnTheBatch) {
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    std::mt19937 rng(13);
    const int64_t out = 40, in = 576;
    for (QWeightType t : kTypes) {
      const auto w = RandomWeights(t, out, in, rng);
      ExpectRowsIndependentOfBatch(t, w, out, in, rng, path.name + (" " + Name(t)));
    }
  }
}

TEST_F(QGemmIsas, AccumulateAddsToY) {
  std::mt19937 rng(5);
  const int64_t out = 17, in = 64;
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    for (QWeightType t : kTypes) {
      const auto w = RandomWeights(t, out, in, rng);
      ExpectAccumulateAddsToY(t, w, out, in, rng, path.name + (" " + Name(t)));
    }
  }
}

TEST(QGemm, EmptyShapesLeaveYUntouched) {
  std::mt19937 rng(9);
  const auto w = RandomWeights(QWeightType::kQ4_1, 4, 64, rng);
  const auto xq = Quantize(QWeightType::kQ4_1, RandomActivations(2, 64, rng), 2, 64);
  std::vector<float> y(8, 42.0f);
  QGemm({QWeightType::kQ4_1, w.data(), 4, 64, xq.data(), 0, y.data(), false});
  QGemm({QWeightType::kQ4_1, w.data(), 0, 64, xq.data(), 2, y.data(), false});
  QGemmReference({QWeightType::kQ4_1, w.data(), 4, 64, xq.data(), 0, y.data(), false});
  EXPECT_EQ(y, std::vector<float>(8, 42.0f));
  EXPECT_EQ(QuantizedActivationBytes(QWeightType::kQ4_1, 0, 64), 0u);
  EXPECT_EQ(QuantizedActivationBytes(QWeightType::kQ8_0, 3, 64), 3u * 2 * 34);
}

}  // namespace
}  // namespace xq
