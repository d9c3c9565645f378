#include "engine/sampling/sampling_params.h"

#include <cmath>
#include <sstream>
#include <string>

#include "engine/common/error.h"

namespace xq {
namespace {

[[noreturn]] void Fail(const std::string& field, const std::string& why) {
  throw Error("sampling params: " + field + ": " + why);
}

std::string Str(float v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

void CheckToken(const std::string& field, int64_t id, int64_t vocab_size) {
  if (id < 0 || id >= vocab_size) {
    Fail(field, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                    std::to_string(vocab_size) + ")");
  }
}

}  // namespace

void SamplingParams::Validate(int64_t vocab_size) const {
  // Comparisons are written so that NaN fails them.
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    Fail("temperature", "must be a finite value >= 0, got " + Str(temperature));
  }
  if (top_k < 0) Fail("top_k", "must be >= 0 (0 disables), got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) Fail("top_p", "must be in (0, 1], got " + Str(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) Fail("min_p", "must be in [0, 1], got " + Str(min_p));
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
    Fail("repetition_penalty", "must be a finite value > 0, got " + Str(repetition_penalty));
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    Fail("presence_penalty", "must be in [-2, 2], got " + Str(presence_penalty));
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    Fail("frequency_penalty", "must be in [-2, 2], got " + Str(frequency_penalty));
  }
  for (const auto& [id, bias] : logit_bias) {
    CheckToken("logit_bias", id, vocab_size);
    if (!(bias >= -kMaxLogitBias && bias <= kMaxLogitBias)) {
      Fail("logit_bias",
           "bias for token " + std::to_string(id) + " must be in [-100, 100], got " + Str(bias));
    }
  }
  if (stop.size() > static_cast<size_t>(kMaxStopStrings)) {
    Fail("stop", "at most " + std::to_string(kMaxStopStrings) + " stop strings, got " +
                     std::to_string(stop.size()));
  }
  for (const auto& s : stop) {
    if (s.empty()) Fail("stop", "stop strings must not be empty");
  }
  for (int32_t id : stop_token_ids) CheckToken("stop_token_ids", id, vocab_size);
  if (max_tokens < 1) Fail("max_tokens", "must be >= 1, got " + std::to_string(max_tokens));
  if (min_tokens < 0) Fail("min_tokens", "must be >= 0, got " + std::to_string(min_tokens));
  if (min_tokens > max_tokens) {
    Fail("min_tokens", "must not exceed max_tokens (" + std::to_string(max_tokens) + "), got " +
                           std::to_string(min_tokens));
  }
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    Fail("top_logprobs", "must be in [0, " + std::to_string(kMaxTopLogprobs) + "], got " +
                             std::to_string(top_logprobs));
  }
  if (top_logprobs > 0 && !logprobs) Fail("top_logprobs", "requires logprobs to be true");
  if (prompt_logprobs < -1 || prompt_logprobs > kMaxTopLogprobs) {
    Fail("prompt_logprobs", "must be in [-1, " + std::to_string(kMaxTopLogprobs) + "], got " +
                                std::to_string(prompt_logprobs));
  }
  if (n < 1 || n > kMaxN) {
    Fail("n", "must be in [1, " + std::to_string(kMaxN) + "], got " + std::to_string(n));
  }
}

}  // namespace xq
