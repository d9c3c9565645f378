// Quantized matmul on K-quant weights (Q4_K, Q6_K) in their own blocks: the reference against
// an independent decoding of ggml's layouts, every SIMD path against the reference bit for bit
// (packed once or per call), packing undone byte for byte, and batch invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/include/ggml_blocks.h"
#include "kernels/include/qgemm.h"
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

constexpr QWeightType kTypes[] = {QWeightType::kQ4_K, QWeightType::kQ6_K};

std::string Name(QWeightType t) { return t == QWeightType::kQ4_K ? "Q4_K" : "Q6_K"; }

// Every bit of codes and 6/8-bit scales random (Q6_K's int8 scales over their whole range), with
// fp16 superblock scales of a typical magnitude.
std::vector<uint8_t> RandomWeights(QWeightType t, int64_t out, int64_t in, std::mt19937& rng) {
  const size_t block = QWeightBlockBytes(t);
  std::vector<uint8_t> bytes(out * (in / kGgmlSuperBlock) * block);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(1e-4f, 4e-3f);
  for (auto& b : bytes) b = static_cast<uint8_t>(byte(rng));
  for (size_t i = 0; i < bytes.size(); i += block) {
    const uint16_t d = FloatToHalf(scale(rng)), dmin = FloatToHalf(scale(rng));
    if (t == QWeightType::kQ4_K) {
      std::memcpy(bytes.data() + i, &d, 2);
      std::memcpy(bytes.data() + i + 2, &dmin, 2);
    } else {
      std::memcpy(bytes.data() + i + offsetof(BlockQ6_K, d), &d, 2);
    }
  }
  return bytes;
}

// ggml's dequantize_row_q4_K / dequantize_row_q6_K loops, in double, on raw bytes; mins[j] is
// Q4_K sub-block j's dmin * m (what each of its values has taken off).
void DecodeQ4K(const uint8_t* b, double* y, double* mins) {
  const double d = HalfToFloat(uint16_t(b[0] | b[1] << 8));
  const double dmin = HalfToFloat(uint16_t(b[2] | b[3] << 8));
  const uint8_t* s = b + 4;
  const uint8_t* q = b + 16;
  auto scale_min = [&](int j, int* sc, int* m) {
    if (j < 4) {
      *sc = s[j] & 63, *m = s[j + 4] & 63;
    } else {
      *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
      *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  };
  for (int j = 0, is = 0; j < 256; j += 64, q += 32, is += 2) {
    int sc1, m1, sc2, m2;
    scale_min(is, &sc1, &m1);
    scale_min(is + 1, &sc2, &m2);
    for (int l = 0; l < 32; ++l) y[j + l] = d * sc1 * (q[l] & 0xF) - dmin * m1;
    for (int l = 0; l < 32; ++l) y[j + 32 + l] = d * sc2 * (q[l] >> 4) - dmin * m2;
    mins[is] = dmin * m1;
    mins[is + 1] = dmin * m2;
  }
}

void DecodeQ6K(const uint8_t* b, double* y, double* /*mins*/) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const double d = HalfToFloat(uint16_t(b[208] | b[209] << 8));
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      y[l] = d * sc[is] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
      y[l + 32] = d * sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      y[l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      y[l + 96] = d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

TEST(QGemmReferenceKQuant, MatchesDequantizedFormula) {
  std::mt19937 rng(23);
  const int64_t out = 5, in = 768, rows = 3, nb = in / kGgmlBlock;
  for (QWeightType t : kTypes) {
    const auto w = RandomWeights(t, out, in, rng);
    const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
    std::vector<float> y(rows * out);
    QGemmReference({t, w.data(), out, in, xq.data(), rows, y.data(), false});
    const size_t ab = QActivationBlockBytes(t), row_bytes = QWeightRowBytes(t, in);
    for (int64_t o = 0; o < out; ++o) {
      std::vector<double> wv(in), mins(nb, 0.0);
      for (int64_t s = 0; s < in / kGgmlSuperBlock; ++s) {
        const uint8_t* blk = w.data() + o * row_bytes + s * QWeightBlockBytes(t);
        (t == QWeightType::kQ4_K ? DecodeQ4K : DecodeQ6K)(blk, wv.data() + s * kGgmlSuperBlock,
                                                          mins.data() + s * 8);
      }
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0, mag = 0, min_terms = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* ablk = xq.data() + (r * nb + b) * ab;
          const double da = HalfToFloat(uint16_t(ablk[0] | ablk[1] << 8));
          const auto* aq = reinterpret_cast<const int8_t*>(ablk + ab - kGgmlBlock);
          int sum = 0;
          for (int j = 0; j < kGgmlBlock; ++j) {
            const double term = wv[b * kGgmlBlock + j] * da * aq[j];
            want += term;
            mag += std::fabs(term);
            sum += aq[j];
          }
          if (t == QWeightType::kQ4_K) {  // the min term takes the block's s = fp16(d * sum)
            const double s_stored = HalfToFloat(uint16_t(ablk[2] | ablk[3] << 8));
            min_terms += mins[b] * std::fabs(s_stored - da * sum);
          }
        }
        // Beyond what s changes, only fp32 roundings: a few per block, 2^-24 each.
        const double tol = min_terms + 1e-5 * mag;
        EXPECT_NEAR(y[r * out + o], want, tol) << Name(t) << " r=" << r << " o=" << o;
      }
    }
  }
}

TEST_F(QGemmIsas, KQuantSimdMatchesReferenceBitForBit) {
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    const int64_t fast_before = QGemmPaths().Of(path.counted);
    int64_t calls = 0;
    std::mt19937 rng(29);
    for (QWeightType t : kTypes) {
      for (int64_t in : {256, 512, 1536}) {
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

TEST_F(QGemmIsas, KQuantPackedWeightsUnpackToTheSameBlocks) {
  std::mt19937 rng(31);
  for (QWeightType t : kTypes) {
    for (int64_t out : {1, 16, 37}) {
      const int64_t in = 768;
      const auto w = RandomWeights(t, out, in, rng);
      std::vector<uint8_t> packed(PackedQWeightBytes(t, out, in));
      PackQWeights(t, w.data(), out, in, packed.data());
      const size_t row_bytes = QWeightRowBytes(t, in);
      ASSERT_EQ(w.size(), out * row_bytes);
      for (int64_t o = 0; o < out; ++o) {
        std::vector<uint8_t> row(row_bytes);
        UnpackQWeightRow(t, packed.data(), in, o, row.data());
        ASSERT_EQ(row,
                  std::vector<uint8_t>(w.begin() + o * row_bytes, w.begin() + (o + 1) * row_bytes))
            << Name(t) << " out=" << out << " row " << o;
      }
    }
  }
}

// The packed form costs what the file does, up to Q4_K's 6-bit scales and mins kept as bytes.
TEST(QGemmKQuant, PackedBytesStayCloseToTheFile) {
  const int64_t out = 32, in = 4096;
  EXPECT_EQ(PackedQWeightBytes(QWeightType::kQ6_K, out, in),
            out * QWeightRowBytes(QWeightType::kQ6_K, in));
  EXPECT_EQ(PackedQWeightBytes(QWeightType::kQ4_K, out, in) * 144,
            out * QWeightRowBytes(QWeightType::kQ4_K, in) * 148);
}

TEST_F(QGemmIsas, KQuantRowResultsDoNotDependOnTheBatch) {
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    std::mt19937 rng(37);
    const int64_t out = 40, in = 512;
    for (QWeightType t : kTypes) {
      const auto w = RandomWeights(t, out, in, rng);
      ExpectRowsIndependentOfBatch(t, w, out, in, rng, path.name + (" " + Name(t)));
    }
  }
}

TEST_F(QGemmIsas, KQuantAccumulateAddsToY) {
  std::mt19937 rng(41);
  const int64_t out = 17, in = 256;
  for (const Path& path : Paths()) {
    ASSERT_TRUE(ForceQGemmIsa(path.isa));
    for (QWeightType t : kTypes) {
      const auto w = RandomWeights(t, out, in, rng);
      ExpectAccumulateAddsToY(t, w, out, in, rng, path.name + (" " + Name(t)));
    }
  }
}

}  // namespace
}  // namespace xq
