#include "engine/sampling/token_logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace xq {
namespace {

TEST(TokenLogprobsTest, MatchesHandComputedLogSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(3.0f), 0.0f};  // probs 0.2 0.6 0.2
  TokenLogprobs lp = ComputeTokenLogprobs(logits, 2, 3);
  EXPECT_NEAR(lp.logprob, std::log(0.2), 1e-6);
  EXPECT_EQ(lp.rank, 2);  // only token 1 is more likely; token 0 ties
  EXPECT_EQ(ComputeTokenLogprobs(logits, 1, 0).rank, 1);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].token, 1);
  EXPECT_NEAR(lp.top[0].logprob, std::log(0.6), 1e-6);
  // The tie goes to the smaller id.
  EXPECT_EQ(lp.top[1].token, 0);
  EXPECT_EQ(lp.top[2].token, 2);
}

TEST(TokenLogprobsTest, TemperatureScalesBeforeTheSoftmax) {
  const std::vector<float> logits = {0.0f, 2.0f * std::log(3.0f)};
  // At temperature 2 the probabilities are 1/4 and 3/4.
  TokenLogprobs lp = ComputeTokenLogprobs(logits, 0, 0, 2.0f);
  EXPECT_NEAR(lp.logprob, std::log(0.25), 1e-6);
  EXPECT_TRUE(lp.top.empty());
}

TEST(TokenLogprobsTest, SumsToOneAndTopIsOrderedAndComplete) {
  std::vector<float> logits(5000);
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& l : logits) l = normal(gen);
  double sum = 0.0;
  for (size_t t = 0; t < logits.size(); ++t) {
    sum += std::exp(ComputeTokenLogprobs(logits, static_cast<int32_t>(t), 0).logprob);
  }
  EXPECT_NEAR(sum, 1.0, 1e-4);

  TokenLogprobs lp = ComputeTokenLogprobs(logits, 17, 20);
  int more_likely = 0;
  for (float l : logits) more_likely += l > logits[17];
  EXPECT_EQ(lp.rank, more_likely + 1);
  ASSERT_EQ(lp.top.size(), 20u);
  for (size_t i = 1; i < lp.top.size(); ++i) EXPECT_GE(lp.top[i - 1].logprob, lp.top[i].logprob);
  // Nothing outside the list beats its last entry.
  const float weakest = logits[lp.top.back().token];
  int better = 0;
  for (float l : logits) better += l > weakest;
  EXPECT_EQ(better, 19);
  EXPECT_FLOAT_EQ(lp.top[0].logprob - lp.top[1].logprob,
                  logits[lp.top[0].token] - logits[lp.top[1].token]);
}

TEST(TokenLogprobsTest, MaskedTokensGetMinusInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 1.0f, 1.0f};
  TokenLogprobs lp = ComputeTokenLogprobs(logits, 1, 3);
  EXPECT_NEAR(lp.logprob, std::log(0.5), 1e-6);
  EXPECT_EQ(lp.top[2].token, 0);
  EXPECT_TRUE(std::isinf(lp.top[2].logprob) && lp.top[2].logprob < 0);
}

}  // namespace
}  // namespace xq
