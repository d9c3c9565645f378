#include "engine/sampling/logits_processor.h"

#include <limits>

namespace xq {
namespace {

bool InRange(std::span<float> logits, int32_t token) {
  return token >= 0 && static_cast<size_t>(token) < logits.size();
}

}  // namespace

void MaskTokens(std::span<float> logits, std::span<const int32_t> tokens) {
  for (int32_t t : tokens) {
    if (InRange(logits, t)) logits[t] = -std::numeric_limits<float>::infinity();
  }
}

void ApplyLogitBias(std::span<float> logits, const std::map<int32_t, float>& bias) {
  for (const auto& [t, b] : bias) {
    if (InRange(logits, t)) logits[t] += b;
  }
}

void ApplyRepetitionPenalty(std::span<float> logits, const TokenHistory& history, float penalty) {
  if (penalty == 1.0f) return;
  for (int32_t t : history.seen()) {
    if (!InRange(logits, t)) continue;
    float& l = logits[t];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

void ApplyPresenceFrequencyPenalty(std::span<float> logits, const TokenHistory& history,
                                   float presence, float frequency) {
  if (presence == 0.0f && frequency == 0.0f) return;
  for (const auto& [t, count] : history.output_counts()) {
    if (!InRange(logits, t)) continue;
    logits[t] -= presence + frequency * static_cast<float>(count);
  }
}

}  // namespace xq
