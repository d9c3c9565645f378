// How many prompt tokens a step may carry while other sequences are decoding. Every such step
// is one gap between tokens for every decoding stream, so its prefill chunks are sized to keep
// the step near a target duration (stall-free batching in the spirit of Sarathi-Serve): after
// each step the allowance shrinks in proportion when the step ran long, and grows (at most 25%
// a step) when it ran short with the allowance used up. Steps with no decodes stall nobody and
// may use the whole token budget. The decodes themselves are never limited.
#pragma once

#include <cstdint>

namespace xq {

class StepBudget {
 public:
  // target_seconds 0: no target, prefill always gets max_tokens.
  StepBudget(int32_t max_tokens, double target_seconds);

  // Prompt tokens allowed in a step that has decodes.
  int32_t prefill_with_decodes() const { return allowance_; }
  // A step ran: `decode_tokens` decodes and `prefill_tokens` prompt tokens in `seconds`.
  void Observe(int64_t decode_tokens, int64_t prefill_tokens, double seconds);

  // The least a step with decodes may prefill: prompts keep moving however slow the step is.
  static constexpr int32_t kMinPrefill = 16;

 private:
  int32_t max_tokens_;
  double target_;
  int32_t allowance_;
};

}  // namespace xq
