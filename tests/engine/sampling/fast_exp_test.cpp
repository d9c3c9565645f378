#include "engine/sampling/fast_exp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace xq {
namespace {

TEST(FastExpTest, MatchesStdExpOnNonPositiveArguments) {
  double worst = 0.0;
  for (float x = -86.0f; x <= 0.0f; x += 0.00731f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(ExpClamped(x) - want) / want);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(ExpClamped(0.0f), 1.0f);
  EXPECT_EQ(ExpClamped(kExpFloor), 0.0f);
}

TEST(FastExpTest, ExpShiftedScalesSumsAndZeroesMinusInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits(37);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.25f * static_cast<float>(i) - 3.0f;
  logits[5] = -inf;
  logits[30] = -1000.0f;
  std::vector<float> out(logits.size());
  const float shift = 6.0f, scale = 0.5f;
  const double sum = ExpShifted(logits, shift, scale, out.data());
  double want_sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double want = i == 5 ? 0.0 : std::exp((logits[i] - shift) * scale);
    EXPECT_NEAR(out[i], want, 1e-6 * want + 1e-30) << i;
    want_sum += want;
  }
  EXPECT_EQ(out[5], 0.0f);
  EXPECT_EQ(out[30], 0.0f);
  EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum);
}

}  // namespace
}  // namespace xq
