// SamplingParams: the per-request sampling settings (OpenAI / vLLM semantics) and their
// validation at the request boundary.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/grammar_spec.h"

namespace xq {

// Which distribution logprobs describe. kRaw (the default, as vLLM and OpenAI do) is the model's
// own log-softmax; kProcessed is the log-softmax after masks, bias, penalties and temperature
// (before top-k / top-p / min-p truncation).
enum class LogprobsMode { kRaw, kProcessed };

struct SamplingParams {
  static constexpr int32_t kMaxStopStrings = 16;
  static constexpr int32_t kMaxTopLogprobs = 20;
  static constexpr int32_t kMaxN = 128;
  static constexpr float kMaxLogitBias = 100.0f;

  float temperature = 1.0f;  // 0 means greedy
  int32_t top_k = 0;         // 0 disables
  float top_p = 1.0f;        // 1 disables
  float min_p = 0.0f;        // 0 disables; relative to the most likely token

  // HF / llama.cpp: for each distinct token in prompt + output, positive logits are divided by
  // it and negative ones multiplied. 1 disables.
  float repetition_penalty = 1.0f;
  // OpenAI: over generated tokens, logit -= presence * [count > 0] + frequency * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::map<int32_t, float> logit_bias;  // token -> added to its logit

  // Each sequence owns its generator; absent means drawn from std::random_device. Copy i of an
  // n > 1 request uses seed + i.
  std::optional<uint64_t> seed;

  std::vector<std::string> stop;        // matched on the text across token boundaries, not emitted
  std::vector<int32_t> stop_token_ids;  // always stop, even with ignore_eos
  bool ignore_eos = false;
  int32_t max_tokens = 16;
  int32_t min_tokens = 0;  // EOS and stop tokens are masked (and stop strings ignored) until then

  bool logprobs = false;
  int32_t top_logprobs = 0;
  // Log-probabilities of the prompt's own tokens (each given the tokens before it) with this many
  // alternatives; -1: none. Such a request computes its whole prompt (no prefix-cache reuse).
  int32_t prompt_logprobs = -1;
  LogprobsMode logprobs_mode = LogprobsMode::kRaw;

  int32_t n = 1;

  // Structured output: every copy's text must match this grammar (compiled by Engine::Submit).
  std::optional<GrammarSpec> grammar;

  // Throws xq::Error naming the offending field. vocab_size bounds the token ids.
  void Validate(int64_t vocab_size) const;
};

}  // namespace xq
