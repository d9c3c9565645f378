// Transcoding the block types the CPU kernels lack into Q8_0: each rewrite against the
// file's exact values (DequantizeRow) within the error its header comment promises, on rows
// encoded by the reference quantizers.
#include "engine/model/cpu_block_transcode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "engine/common/error.h"
#include "engine/model/dequantize.h"
#include "kernels/include/ggml_blocks.h"
#include "kernels/reference/half.h"
#include "tests/support/quantize_ref.h"

namespace xq {
namespace {

constexpr int64_t kRows = 5, kCols = 512;

// Rows with a spread of magnitudes (and an outlier per row), as real weight rows have.
std::vector<float> RandomRows(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> x(kRows * kCols);
  for (float& v : x) v = normal(rng);
  for (int64_t r = 0; r < kRows; ++r) x[r * kCols + (37 * r) % kCols] = 0.3f;
  return x;
}

std::vector<uint8_t> Encode(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (int64_t r = 0; r < kRows; ++r) {
    const std::vector<uint8_t> row = test::QuantizeRow(type, x.data() + r * kCols, kCols);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::vector<float> Values(GgmlType type, const std::vector<uint8_t>& blocks) {
  std::vector<float> out(kRows * kCols);
  DequantizeRow(type, blocks.data(), out.data(), kRows * kCols);
  return out;
}

TEST(CpuBlockTranscode, TargetsAreTheCpuKernelTypes) {
  for (GgmlType t : {GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ5_K}) {
    EXPECT_EQ(CpuBlockTypeFor(t), GgmlType::kQ8_0);
  }
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K,
                     GgmlType::kQ6_K, GgmlType::kF32}) {
    EXPECT_EQ(CpuBlockTypeFor(t), t);
  }
}

TEST(CpuBlockTranscode, Q5_0IsExact) {
  const std::vector<uint8_t> src = Encode(GgmlType::kQ5_0, RandomRows(2));
  const std::vector<uint8_t> dst = TranscodeBlocksForCpu(GgmlType::kQ5_0, src.data(), kRows, kCols);
  EXPECT_EQ(Values(GgmlType::kQ8_0, dst), Values(GgmlType::kQ5_0, src));
}

// Q5_1, Q5_K -> Q8_0: scale fp16(amax / 127) of the group's exact values, every value within
// half a step of it.
TEST(CpuBlockTranscode, RequantizedTypesAreWithinHalfAnEightBitStep) {
  for (GgmlType type : {GgmlType::kQ5_1, GgmlType::kQ5_K}) {
    SCOPED_TRACE(GgmlTypeName(uint32_t(type)));
    const std::vector<uint8_t> src = Encode(type, RandomRows(3));
    const std::vector<uint8_t> dst = TranscodeBlocksForCpu(type, src.data(), kRows, kCols);
    ASSERT_EQ(dst.size(), size_t(kRows * kCols / 32 * sizeof(BlockQ8_0)));
    const auto* out = reinterpret_cast<const BlockQ8_0*>(dst.data());
    const std::vector<float> exact = Values(type, src);
    const std::vector<float> got = Values(GgmlType::kQ8_0, dst);
    double worst_steps = 0.0;
    for (size_t g = 0; g < exact.size() / 32; ++g) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(exact[g * 32 + j]));
      ASSERT_EQ(out[g].d, FloatToHalf(amax / 127.0f)) << "group " << g;
      const float step = HalfToFloat(out[g].d);
      for (int j = 0; j < 32; ++j) {
        const size_t i = g * 32 + j;
        ASSERT_LE(std::fabs(got[i] - exact[i]), 0.5f * step * (1.0f + 0x1p-20f)) << "value " << i;
        ASSERT_GE(out[g].qs[j], -127);
      }
      if (step > 0) {
        for (int j = 0; j < 32; ++j) {
          worst_steps =
              std::max(worst_steps, double(std::fabs(got[g * 32 + j] - exact[g * 32 + j]) / step));
        }
      }
    }
    EXPECT_GT(worst_steps, 0.0) << "nothing was rounded: the test data is too easy";
  }
}

// Groups whose fp16 scale is subnormal: within half a step or 127 * 2^-25, whichever is larger.
TEST(CpuBlockTranscode, TinyGroupsStayWithinTheSubnormalBound) {
  std::vector<float> x(kRows * kCols);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> tiny(-2e-4f, 2e-4f);
  for (float& v : x) v = tiny(rng);
  for (GgmlType type : {GgmlType::kQ5_1, GgmlType::kQ5_K}) {
    SCOPED_TRACE(GgmlTypeName(uint32_t(type)));
    const std::vector<uint8_t> src = Encode(type, x);
    const std::vector<uint8_t> dst = TranscodeBlocksForCpu(type, src.data(), kRows, kCols);
    const auto* out = reinterpret_cast<const BlockQ8_0*>(dst.data());
    const std::vector<float> exact = Values(type, src);
    const std::vector<float> got = Values(GgmlType::kQ8_0, dst);
    for (size_t i = 0; i < exact.size(); ++i) {
      const float step = HalfToFloat(out[i / 32].d);
      ASSERT_LT(step, 0x1p-14f) << "the scales must be subnormal for this test";
      ASSERT_LE(std::fabs(got[i] - exact[i]), std::max(0.5f * step, 127 * 0x1p-25f)) << i;
    }
  }
}

// A malformed file's infinite scale (values inf, and NaN where a code is 0): a NaN Q8_0 scale over
// zero codes, so the values stay non-finite as fp32 would keep them. Without the guard, amax is
// inf and inf / inf reached the float-to-int8 conversion (undefined).
TEST(CpuBlockTranscode, NonFiniteGroupsStayNonFinite) {
  std::vector<uint8_t> src = test::QuantizeRow(GgmlType::kQ5_1, RandomRows(5).data(), 64);
  StoreHalfAt(src.data(), std::numeric_limits<float>::infinity());  // first block's d
  const std::vector<uint8_t> dst = TranscodeBlocksForCpu(GgmlType::kQ5_1, src.data(), 1, 64);
  const auto* out = reinterpret_cast<const BlockQ8_0*>(dst.data());
  EXPECT_TRUE(std::isnan(HalfToFloat(out[0].d)));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[0].qs[j], 0);
  EXPECT_TRUE(std::isfinite(HalfToFloat(out[1].d))) << "the next group is untouched";
}

TEST(CpuBlockTranscode, TensorsInPlace) {
  Tensor t;
  t.shape = {kRows, kCols};
  t.block_type = GgmlType::kQ5_K;
  t.blocks = Encode(GgmlType::kQ5_K, RandomRows(4));
  const std::vector<uint8_t> want =
      TranscodeBlocksForCpu(GgmlType::kQ5_K, t.blocks.data(), kRows, kCols);
  ASSERT_TRUE(TranscodeForCpu(t));
  EXPECT_EQ(t.block_type, GgmlType::kQ8_0);
  EXPECT_EQ(t.blocks, want);
  EXPECT_FALSE(TranscodeForCpu(t)) << "Q8_0 needs nothing";
  Tensor floats;
  floats.shape = {2, 32};
  floats.data.assign(64, 1.0f);
  EXPECT_FALSE(TranscodeForCpu(floats));
  EXPECT_THROW(TranscodeBlocksForCpu(GgmlType::kQ4_0, t.blocks.data(), 1, 32), Error);
  EXPECT_THROW(TranscodeBlocksForCpu(GgmlType::kQ4_K, t.blocks.data(), 1, 256), Error)
      << "the CPU kernels take Q4_K as it is";
  EXPECT_THROW(TranscodeBlocksForCpu(GgmlType::kQ5_K, t.blocks.data(), 1, 32), Error)
      << "32 values are not a whole Q5_K block";
}

}  // namespace
}  // namespace xq
