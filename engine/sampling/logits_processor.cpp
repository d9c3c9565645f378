#include "engine/sampling/logits_processor.h"

namespace xq {

void AppendLogitEdits(const SamplingParams& params, const TokenHistory& history,
                      std::span<const int32_t> masked, std::vector<LogitEdit>& out) {
  for (int32_t t : masked) out.push_back({t, LogitEditKind::kMask, 0.0f});
  for (const auto& [t, bias] : params.logit_bias) out.push_back({t, LogitEditKind::kBias, bias});
  if (const float penalty = params.repetition_penalty; penalty != 1.0f) {
    for (int32_t t : history.seen()) out.push_back({t, LogitEditKind::kRepetition, penalty});
  }
  const float presence = params.presence_penalty, frequency = params.frequency_penalty;
  if (presence != 0.0f || frequency != 0.0f) {
    for (const auto& [t, count] : history.output_counts()) {
      out.push_back(
          {t, LogitEditKind::kSubtract, presence + frequency * static_cast<float>(count)});
    }
  }
}

void ApplyLogitEdits(std::span<float> logits, std::span<const LogitEdit> edits) {
  for (const LogitEdit& e : edits) {
    if (e.token >= 0 && static_cast<size_t>(e.token) < logits.size()) {
      logits[e.token] = ApplyLogitEdit(logits[e.token], e);
    }
  }
}

}  // namespace xq
