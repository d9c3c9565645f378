// Token logprobs: the log-probability of the chosen token and the most likely alternatives
// under the log-softmax of a logits row (OpenAI "logprobs" / "top_logprobs").
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace xq {

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct TokenLogprobs {
  float logprob;                  // of the chosen token
  int32_t rank;                   // of the chosen token: 1 + how many tokens are more likely
  std::vector<TokenLogprob> top;  // most likely first, ties by smaller id
};

// log_softmax(logits / temperature) at `token`, its rank, plus the top_n most likely tokens.
// O(V log n): no full sort. temperature must be > 0.
TokenLogprobs ComputeTokenLogprobs(std::span<const float> logits, int32_t token, int32_t top_n,
                                   float temperature = 1.0f);

}  // namespace xq
