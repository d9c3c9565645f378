#include "engine/sampling/logits_processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace xq {
namespace {

TEST(LogitsProcessorTest, MaskTokensSetsMinusInfinityAndIgnoresOutOfRange) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const std::vector<int32_t> ids = {1, 7, -2};
  MaskTokens(logits, ids);
  EXPECT_EQ(logits[0], 1.0f);
  EXPECT_TRUE(std::isinf(logits[1]) && logits[1] < 0);
  EXPECT_EQ(logits[2], 3.0f);
}

TEST(LogitsProcessorTest, LogitBiasAdds) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  ApplyLogitBias(logits, {{0, -100.0f}, {2, 0.5f}, {9, 4.0f}});
  EXPECT_EQ(logits, (std::vector<float>{-99.0f, 2.0f, 3.5f}));
}

TEST(LogitsProcessorTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeOncePerToken) {
  const std::vector<int32_t> prompt = {0, 1, 1};
  TokenHistory history(prompt);
  history.AddOutput(2);
  history.AddOutput(2);
  std::vector<float> logits = {4.0f, -1.0f, 0.0f, 3.0f, -3.0f};
  ApplyRepetitionPenalty(logits, history, 2.0f);
  // 0 and 1 from the prompt, 2 from the output; 3 and 4 unseen.
  EXPECT_EQ(logits, (std::vector<float>{2.0f, -2.0f, 0.0f, 3.0f, -3.0f}));

  std::vector<float> reward = {4.0f, -1.0f};
  ApplyRepetitionPenalty(reward, history, 0.5f);
  EXPECT_EQ(reward, (std::vector<float>{8.0f, -0.5f}));
}

TEST(LogitsProcessorTest, PresenceAndFrequencyPenaltiesCountOnlyGeneratedTokens) {
  const std::vector<int32_t> prompt = {3};
  TokenHistory history(prompt);
  history.AddOutput(0);
  history.AddOutput(1);
  history.AddOutput(1);
  history.AddOutput(1);
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  ApplyPresenceFrequencyPenalty(logits, history, 0.5f, 0.25f);
  // token 0: 1 - 0.5 - 0.25; token 1: 1 - 0.5 - 0.75; 2 unseen; 3 only in the prompt.
  EXPECT_FLOAT_EQ(logits[0], 0.25f);
  EXPECT_FLOAT_EQ(logits[1], -0.25f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f);
  EXPECT_FLOAT_EQ(logits[3], 1.0f);
}

TEST(LogitsProcessorTest, NegativePenaltiesEncourageRepeats) {
  TokenHistory history;
  history.AddOutput(0);
  history.AddOutput(0);
  std::vector<float> logits = {0.0f, 0.0f};
  ApplyPresenceFrequencyPenalty(logits, history, -1.0f, -2.0f);
  EXPECT_FLOAT_EQ(logits[0], 5.0f);
  EXPECT_FLOAT_EQ(logits[1], 0.0f);
}

}  // namespace
}  // namespace xq
