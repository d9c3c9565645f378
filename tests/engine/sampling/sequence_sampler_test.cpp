#include "engine/sampling/sequence_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace xq {
namespace {

constexpr int32_t kEos = 0;
const std::vector<int32_t> kEosIds = {kEos};

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = 100;
  return p;
}

// Logits that make `favourite` the argmax and the rest a fixed ramp.
std::vector<float> Favouring(int32_t favourite, size_t vocab = 8) {
  std::vector<float> l(vocab);
  for (size_t i = 0; i < vocab; ++i) l[i] = 0.1f * static_cast<float>(i);
  l[favourite] = 10.0f;
  return l;
}

TEST(SequenceSamplerTest, MaxTokensEndsWithLength) {
  SamplingParams p = Greedy();
  p.max_tokens = 3;
  SequenceSampler s(p, {}, kEosIds);
  EXPECT_EQ(s.Next(Favouring(5)).finish, FinishReason::kNone);
  EXPECT_EQ(s.Next(Favouring(5)).finish, FinishReason::kNone);
  SampleResult last = s.Next(Favouring(5));
  EXPECT_EQ(last.token, 5);
  EXPECT_EQ(last.finish, FinishReason::kLength);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.generated(), 3);
}

TEST(SequenceSamplerTest, EosStopsUnlessIgnored) {
  SequenceSampler s(Greedy(), {}, kEosIds);
  SampleResult r = s.Next(Favouring(kEos));
  EXPECT_EQ(r.token, kEos);
  EXPECT_TRUE(r.is_stop_token);
  EXPECT_EQ(r.finish, FinishReason::kStop);

  SamplingParams p = Greedy();
  p.ignore_eos = true;
  SequenceSampler ignoring(p, {}, kEosIds);
  SampleResult go_on = ignoring.Next(Favouring(kEos));
  EXPECT_EQ(go_on.token, kEos);
  EXPECT_FALSE(go_on.is_stop_token);
  EXPECT_EQ(go_on.finish, FinishReason::kNone);
}

TEST(SequenceSamplerTest, StopTokenIdsStopEvenWithIgnoreEos) {
  SamplingParams p = Greedy();
  p.ignore_eos = true;
  p.stop_token_ids = {6};
  SequenceSampler s(p, {}, kEosIds);
  SampleResult r = s.Next(Favouring(6));
  EXPECT_TRUE(r.is_stop_token);
  EXPECT_EQ(r.finish, FinishReason::kStop);
}

TEST(SequenceSamplerTest, MinTokensMasksEosAndStopTokensUntilReached) {
  SamplingParams p = Greedy();
  p.min_tokens = 3;
  p.stop_token_ids = {7};
  SequenceSampler s(p, {}, kEosIds);
  std::vector<float> logits = Favouring(kEos);
  logits[7] = 9.0f;  // the runner-up is a stop token too
  for (int i = 0; i < 3; ++i) {
    SampleResult r = s.Next(logits);
    EXPECT_EQ(r.token, 6) << "step " << i;  // the best token that is not a stop token
    EXPECT_FALSE(r.is_stop_token);
  }
  SampleResult r = s.Next(logits);
  EXPECT_EQ(r.token, kEos);
  EXPECT_EQ(r.finish, FinishReason::kStop);
}

TEST(SequenceSamplerTest, StopStringsFinishAndAreHonouredOnlyAfterMinTokens) {
  SamplingParams p = Greedy();
  p.stop = {"##"};
  p.min_tokens = 2;
  SequenceSampler s(p, {}, kEosIds);
  s.Next(Favouring(3));
  StopMatcher::Output early = s.PushText("a##");
  EXPECT_FALSE(early.stopped);
  EXPECT_EQ(early.text, "a#");  // the last "#" may start a stop
  s.Next(Favouring(3));
  StopMatcher::Output held = s.PushText("b#");
  EXPECT_EQ(held.text, "#b");
  s.Next(Favouring(3));
  StopMatcher::Output done = s.PushText("#c");
  EXPECT_TRUE(done.stopped);
  EXPECT_EQ(done.text, "");
  EXPECT_EQ(s.finish_reason(), FinishReason::kStop);
}

TEST(SequenceSamplerTest, FlushReturnsHeldTextAtTheEnd) {
  SamplingParams p = Greedy();
  p.stop = {"STOP"};
  p.max_tokens = 1;
  SequenceSampler s(p, {}, kEosIds);
  EXPECT_EQ(s.Next(Favouring(2)).finish, FinishReason::kLength);
  EXPECT_EQ(s.PushText("hi ST").text, "hi ");
  EXPECT_EQ(s.FlushText(), "ST");
}

TEST(SequenceSamplerTest, PenaltiesAndBiasReachTheDraw) {
  std::vector<float> logits = {0.0f, 2.0f, 1.9f, 1.0f};
  SamplingParams rep = Greedy();
  rep.repetition_penalty = 1.5f;
  const std::vector<int32_t> prompt = {1};
  EXPECT_EQ(SequenceSampler(rep, prompt, kEosIds).Next(logits).token, 2);

  SamplingParams freq = Greedy();
  freq.frequency_penalty = 0.2f;
  SequenceSampler f(freq, {}, kEosIds);
  EXPECT_EQ(f.Next(logits).token, 1);  // nothing generated yet
  EXPECT_EQ(f.Next(logits).token, 2);  // 2.0 - 0.2 < 1.9

  SamplingParams bias = Greedy();
  bias.logit_bias = {{3, 5.0f}};
  EXPECT_EQ(SequenceSampler(bias, {}, kEosIds).Next(logits).token, 3);
}

TEST(SequenceSamplerTest, LogprobsAreRawByDefaultAndProcessedOnRequest) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 0.5f};
  SamplingParams p = Greedy();
  p.logprobs = true;
  p.top_logprobs = 2;
  p.logit_bias = {{0, 10.0f}};
  SampleResult raw = SequenceSampler(p, {}, std::vector<int32_t>{}).Next(logits);
  EXPECT_EQ(raw.token, 0);
  const double z = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  EXPECT_NEAR(raw.logprob, -std::log(z), 1e-5);
  ASSERT_EQ(raw.top_logprobs.size(), 2u);
  EXPECT_EQ(raw.top_logprobs[0].token, 2);
  EXPECT_EQ(raw.top_logprobs[1].token, 1);

  p.logprobs_mode = LogprobsMode::kProcessed;
  SampleResult processed = SequenceSampler(p, {}, std::vector<int32_t>{}).Next(logits);
  const double zp = std::exp(10.0) + std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  EXPECT_NEAR(processed.logprob, 10.0 - std::log(zp), 1e-5);
  EXPECT_EQ(processed.top_logprobs[0].token, 0);
}

// Logits that change with the step so each sequence walks through varied distributions.
std::vector<float> StepLogits(int step, int salt) {
  std::mt19937 gen(step * 7919 + salt);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> l(500);
  for (float& x : l) x = normal(gen);
  return l;
}

TEST(SequenceSamplerTest, SeededDrawsDoNotDependOnOtherSequences) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 100;
  p.top_p = 0.9f;
  p.presence_penalty = 0.5f;
  p.max_tokens = 64;
  p.seed = 5;
  auto run_alone = [&] {
    SequenceSampler a(p, {}, std::vector<int32_t>{});
    std::vector<int32_t> out;
    for (int step = 0; step < 64; ++step) out.push_back(a.Next(StepLogits(step, 0)).token);
    return out;
  };
  const std::vector<int32_t> alone = run_alone();

  SamplingParams other = p;
  other.seed.reset();
  other.top_k = 0;
  SequenceSampler a(p, {}, std::vector<int32_t>{});
  SequenceSampler b(other, {}, std::vector<int32_t>{});
  SequenceSampler c(other, {}, std::vector<int32_t>{}, /*index=*/3);
  std::vector<int32_t> batched;
  for (int step = 0; step < 64; ++step) {
    // Other sequences sample before and after, a varying number of times.
    for (int k = 0; k < step % 3 && !b.finished(); ++k) b.Next(StepLogits(step, 1));
    batched.push_back(a.Next(StepLogits(step, 0)).token);
    if (!c.finished()) c.Next(StepLogits(step, 2));
  }
  EXPECT_EQ(batched, alone);
  EXPECT_EQ(run_alone(), alone);
}

TEST(SequenceSamplerTest, CopiesOfARequestUseSeedPlusIndex) {
  SamplingParams p;
  p.seed = 10;
  SequenceSampler copy0(p, {}, kEosIds, 0), copy2(p, {}, kEosIds, 2);
  EXPECT_EQ(copy0.seed(), 10u);
  EXPECT_EQ(copy2.seed(), 12u);

  SamplingParams unseeded;
  SequenceSampler random(unseeded, {}, kEosIds);
  SamplingParams replay;
  replay.seed = random.seed();
  SequenceSampler again(replay, {}, kEosIds);
  for (int step = 0; step < 16; ++step) {
    EXPECT_EQ(random.Next(StepLogits(step, 0)).token, again.Next(StepLogits(step, 0)).token);
  }
}

}  // namespace
}  // namespace xq
