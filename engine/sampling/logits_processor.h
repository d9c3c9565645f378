// Logits processors: in-place edits of one sequence's logits before truncation and the draw
// (token masks, logit bias, repetition / presence / frequency penalties).
#pragma once

#include <cstdint>
#include <map>
#include <span>

#include "engine/sampling/token_history.h"

namespace xq {

// Sets the logits of `tokens` to -inf so they cannot be drawn (ids outside the span are ignored).
void MaskTokens(std::span<float> logits, std::span<const int32_t> tokens);

// Adds bias[token] to each listed token's logit.
void ApplyLogitBias(std::span<float> logits, const std::map<int32_t, float>& bias);

// HF / llama.cpp semantics, once per distinct token of prompt + output: logit / penalty when
// positive, logit * penalty otherwise, so penalty > 1 always makes the token less likely.
void ApplyRepetitionPenalty(std::span<float> logits, const TokenHistory& history, float penalty);

// OpenAI semantics over generated tokens: logit -= presence * [count > 0] + frequency * count.
void ApplyPresenceFrequencyPenalty(std::span<float> logits, const TokenHistory& history,
                                   float presence, float frequency);

}  // namespace xq
