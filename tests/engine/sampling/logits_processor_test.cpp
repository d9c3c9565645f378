#include "engine/sampling/logits_processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace xq {
namespace {

// The edits of params + history (+ masked) applied to logits.
std::vector<float> Processed(std::vector<float> logits, const SamplingParams& params,
                             const TokenHistory& history = {},
                             const std::vector<int32_t>& masked = {}) {
  std::vector<LogitEdit> edits;
  AppendLogitEdits(params, history, masked, edits);
  ApplyLogitEdits(logits, edits);
  return logits;
}

TEST(LogitsProcessorTest, MasksSetMinusInfinityAndIgnoreOutOfRange) {
  const std::vector<float> logits = Processed({1.0f, 2.0f, 3.0f}, {}, {}, {1, 7, -2, 1});
  EXPECT_EQ(logits[0], 1.0f);
  EXPECT_TRUE(std::isinf(logits[1]) && logits[1] < 0);
  EXPECT_EQ(logits[2], 3.0f);
}

TEST(LogitsProcessorTest, LogitBiasAdds) {
  SamplingParams params;
  params.logit_bias = {{0, -100.0f}, {2, 0.5f}, {9, 4.0f}};
  EXPECT_EQ(Processed({1.0f, 2.0f, 3.0f}, params), (std::vector<float>{-99.0f, 2.0f, 3.5f}));
}

TEST(LogitsProcessorTest, NoParamsNoEdits) {
  TokenHistory history(std::vector<int32_t>{0, 1});
  history.AddOutput(2);
  std::vector<LogitEdit> edits;
  AppendLogitEdits(SamplingParams{}, history, {}, edits);
  EXPECT_TRUE(edits.empty());
}

TEST(LogitsProcessorTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeOncePerToken) {
  const std::vector<int32_t> prompt = {0, 1, 1};
  TokenHistory history(prompt);
  history.AddOutput(2);
  history.AddOutput(2);
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  // 0 and 1 from the prompt, 2 from the output; 3 and 4 unseen.
  EXPECT_EQ(Processed({4.0f, -1.0f, 0.0f, 3.0f, -3.0f}, params, history),
            (std::vector<float>{2.0f, -2.0f, 0.0f, 3.0f, -3.0f}));
  params.repetition_penalty = 0.5f;
  EXPECT_EQ(Processed({4.0f, -1.0f}, params, history), (std::vector<float>{8.0f, -0.5f}));
}

TEST(LogitsProcessorTest, PresenceAndFrequencyPenaltiesCountOnlyGeneratedTokens) {
  const std::vector<int32_t> prompt = {3};
  TokenHistory history(prompt);
  history.AddOutput(0);
  history.AddOutput(1);
  history.AddOutput(1);
  history.AddOutput(1);
  SamplingParams params;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  const std::vector<float> logits = Processed({1.0f, 1.0f, 1.0f, 1.0f}, params, history);
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
  SamplingParams params;
  params.presence_penalty = -1.0f;
  params.frequency_penalty = -2.0f;
  const std::vector<float> logits = Processed({0.0f, 0.0f}, params, history);
  EXPECT_FLOAT_EQ(logits[0], 5.0f);
  EXPECT_FLOAT_EQ(logits[1], 0.0f);
}

TEST(LogitsProcessorTest, KindsApplyInOrderMaskBiasRepetitionPenalties) {
  TokenHistory history(std::vector<int32_t>{0, 1, 2});
  history.AddOutput(1);
  SamplingParams params;
  params.logit_bias = {{0, 3.0f}, {1, -2.0f}, {2, 1.0f}};
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  // 0: (1 + 3) / 2; 1: (1 - 2) * 2 - 0.5; 2: masked, whatever the bias does.
  const std::vector<float> logits = Processed({1.0f, 1.0f, 1.0f}, params, history, {2});
  EXPECT_EQ(logits[0], 2.0f);
  EXPECT_EQ(logits[1], -2.5f);
  EXPECT_TRUE(std::isinf(logits[2]) && logits[2] < 0);
}

}  // namespace
}  // namespace xq
