#include "engine/sampling/sampling_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/common/error.h"

namespace xq {
namespace {

constexpr int64_t kVocab = 100;

std::string ErrorOf(const std::function<void(SamplingParams&)>& edit) {
  SamplingParams p;
  edit(p);
  try {
    p.Validate(kVocab);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SamplingParamsTest, DefaultsAndReasonableSettingsAreValid) {
  SamplingParams p;
  EXPECT_NO_THROW(p.Validate(kVocab));
  p.temperature = 0.0f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 1.0f;
  p.repetition_penalty = 1.3f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.logit_bias = {{0, -100.0f}, {99, 100.0f}};
  p.stop = std::vector<std::string>(16, "x");
  p.stop_token_ids = {0, 99};
  p.max_tokens = 5;
  p.min_tokens = 5;
  p.logprobs = true;
  p.top_logprobs = 20;
  p.n = 4;
  EXPECT_NO_THROW(p.Validate(kVocab));
}

TEST(SamplingParamsTest, ErrorsNameTheField) {
  using testing::HasSubstr;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(ErrorOf([](auto& p) { p.temperature = -0.1f; }), HasSubstr("temperature"));
  EXPECT_THAT(ErrorOf([&](auto& p) { p.temperature = nan; }), HasSubstr("temperature"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.top_k = -1; }), HasSubstr("top_k"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.top_p = 0.0f; }), HasSubstr("top_p"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.top_p = 1.01f; }), HasSubstr("top_p"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.min_p = -0.01f; }), HasSubstr("min_p"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.min_p = 1.5f; }), HasSubstr("min_p"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.repetition_penalty = 0.0f; }),
              HasSubstr("repetition_penalty"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.presence_penalty = 2.5f; }), HasSubstr("presence_penalty"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.frequency_penalty = -2.5f; }),
              HasSubstr("frequency_penalty"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.logit_bias = {{3, 100.5f}}; }), HasSubstr("logit_bias"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.logit_bias = {{kVocab, 1.0f}}; }), HasSubstr("logit_bias"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.logit_bias = {{-1, 1.0f}}; }), HasSubstr("logit_bias"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.stop = std::vector<std::string>(17, "x"); }),
              HasSubstr("stop"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.stop = {"ok", ""}; }), HasSubstr("stop"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.stop_token_ids = {kVocab}; }), HasSubstr("stop_token_ids"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.max_tokens = 0; }), HasSubstr("max_tokens"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.min_tokens = -1; }), HasSubstr("min_tokens"));
  EXPECT_THAT(ErrorOf([](auto& p) {
                p.max_tokens = 4;
                p.min_tokens = 5;
              }),
              HasSubstr("min_tokens"));
  EXPECT_THAT(ErrorOf([](auto& p) {
                p.logprobs = true;
                p.top_logprobs = 21;
              }),
              HasSubstr("top_logprobs"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.top_logprobs = 2; }), HasSubstr("top_logprobs"));
  EXPECT_THAT(ErrorOf([](auto& p) { p.n = 0; }), HasSubstr("n:"));
}

}  // namespace
}  // namespace xq
