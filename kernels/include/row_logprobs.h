// RowLogprobs: what a runner that samples where the logits are returns for a row whose request
// asked for logprobs (RowSampling::top_logprobs >= 0): the chosen token's log-probability and
// rank and the most likely alternatives, a few hundred bytes instead of the whole row. The same
// numbers as the CPU's ComputeTokenLogprobs (engine/sampling/token_logprobs.h) from the same row.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"

namespace xq {

// OpenAI's limit on top_logprobs (SamplingParams checks requests against it).
inline constexpr int32_t kMaxRowTopLogprobs = 20;

struct RowLogprobs {
  float logprob = 0.0f;  // of the chosen token
  int32_t rank = 0;      // of the chosen token: 1 + how many tokens are more likely
  int32_t top_count = 0;
  int32_t top_tokens[kMaxRowTopLogprobs] = {};  // most likely first, ties by smaller id
  float top_logprobs[kMaxRowTopLogprobs] = {};
};

}  // namespace xq
