// The K-quant test encoder against the host's decoder (engine/model/dequantize.cpp, itself checked
// against gguf-py): a row decodes to within a quantization step of what was encoded.
#include "tests/support/k_quant_encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "engine/model/dequantize.h"

namespace xq::test {
namespace {

// The step a group's values are rounded to: its range over 2^bits - 1 levels (Q4_K, Q5_K: 32
// values from min(x, 0); Q6_K: 16 values, max |x| over 31).
double Step(GgmlType type, const float* x, int64_t i) {
  if (type == GgmlType::kQ6_K) {
    const float* g = x + i / 16 * 16;
    double amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, double(std::fabs(g[l])));
    return amax / 31;
  }
  const float* g = x + i / 32 * 32;
  const auto [lo, hi] = std::minmax_element(g, g + 32);
  return (double(*hi) - std::min(double(*lo), 0.0)) / (type == GgmlType::kQ4_K ? 15 : 31);
}

TEST(KQuantEncoder, RowsDecodeWithinAQuantizationStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    std::vector<float> x(1024);
    for (float& v : x) v = n01(rng);
    const std::vector<uint8_t> blocks = EncodeKQuantRow(type, x.data(), 1024);
    ASSERT_EQ(blocks.size(), 4u * FindGgmlType(static_cast<uint32_t>(type))->block_bytes);
    std::vector<float> y(1024);
    DequantizeRow(type, blocks.data(), y.data(), 1024);
    // Rounding to the nearest step errs by step^2 / 12 in the mean square; the 6-bit (8-bit for
    // Q6_K) scales of the steps add a little. A misplaced bit or nibble errs by whole steps.
    double err2 = 0, want2 = 0;
    for (int64_t i = 0; i < 1024; ++i) {
      const double step = Step(type, x.data(), i);
      err2 += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
      want2 += step * step / 12;
      ASSERT_LE(std::fabs(double(y[i]) - x[i]), 1.5 * step) << "type " << int(type) << " at " << i;
    }
    EXPECT_LT(std::sqrt(err2 / want2), 1.5) << "type " << int(type);
  }
}

TEST(KQuantEncoder, RefusesOtherTypesAndPartialBlocks) {
  std::vector<float> x(512);
  EXPECT_THROW(EncodeKQuantRow(GgmlType::kQ4_0, x.data(), 512), std::invalid_argument);
  EXPECT_THROW(EncodeKQuantRow(GgmlType::kQ4_K, x.data(), 384), std::invalid_argument);
  EXPECT_EQ(EncodeKQuantRow(GgmlType::kQ6_K, x.data(), 0).size(), 0u);
}

}  // namespace
}  // namespace xq::test
