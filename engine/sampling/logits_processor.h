// Logits processors: what one sequence's parameters do to its logits before truncation and the
// draw, as sparse LogitEdits (kernels/include/logit_edit.h) that the CPU applies here and a
// device runner applies to rows it never copies back.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampling/sampling_params.h"
#include "engine/sampling/token_history.h"
#include "kernels/include/logit_edit.h"

namespace xq {

// Appends to `out`, in the order they apply: `masked` to -inf; logit bias; the repetition
// penalty (HF / llama.cpp: logit / penalty when positive, logit * penalty otherwise, once per
// distinct token of prompt + output, so penalty > 1 always makes a token less likely); presence
// and frequency penalties (OpenAI: logit -= presence * [count > 0] + frequency * count, over
// generated tokens only).
void AppendLogitEdits(const SamplingParams& params, const TokenHistory& history,
                      std::span<const int32_t> masked, std::vector<LogitEdit>& out);

// Applies edits in order; tokens outside the span are ignored.
void ApplyLogitEdits(std::span<float> logits, std::span<const LogitEdit> edits);

}  // namespace xq
