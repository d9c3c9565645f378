#include "engine/scheduler/step_budget.h"

#include <algorithm>
#include <cmath>

namespace xq {

StepBudget::StepBudget(int32_t max_tokens, double target_seconds)
    : max_tokens_(max_tokens), target_(target_seconds), allowance_(max_tokens) {}

void StepBudget::Observe(int64_t decode_tokens, int64_t prefill_tokens, double seconds) {
  if (target_ <= 0 || decode_tokens == 0 || prefill_tokens == 0 || seconds <= 0) return;
  const double ratio = target_ / seconds;
  double next = allowance_;
  if (ratio < 1) {
    next = static_cast<double>(prefill_tokens) * std::max(ratio, 0.5);
  } else if (prefill_tokens >= allowance_) {
    next = allowance_ * std::min(ratio, 1.25);
  }
  const int32_t floor = std::min(kMinPrefill, max_tokens_);
  allowance_ = std::clamp(static_cast<int32_t>(std::lround(next)), floor, max_tokens_);
}

}  // namespace xq
