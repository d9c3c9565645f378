// The allowance of prompt tokens in steps that carry decodes: shrinks when such steps run long,
// grows back when they run short with the allowance used, stays within [kMinPrefill, max].
#include "engine/scheduler/step_budget.h"

#include <gtest/gtest.h>

namespace xq {
namespace {

TEST(StepBudget, WithoutATargetPrefillAlwaysGetsTheWholeBudget) {
  StepBudget b(512, 0);
  b.Observe(64, 448, 5.0);
  EXPECT_EQ(b.prefill_with_decodes(), 512);
}

TEST(StepBudget, ConvergesToTheTokensThatFitTheTargetOnAModelOfStepTime) {
  // A step costs 20 ms plus 1 ms per token; with 10 decodes a 200 ms target fits 170 prompt
  // tokens.
  StepBudget b(512, 0.2);
  auto seconds = [](int64_t tokens) { return 0.020 + 0.001 * tokens; };
  for (int step = 0; step < 60; ++step) {
    const int64_t prefill = b.prefill_with_decodes();
    b.Observe(10, prefill, seconds(10 + prefill));
  }
  EXPECT_NEAR(b.prefill_with_decodes(), 170, 17);
  EXPECT_LE(seconds(10 + b.prefill_with_decodes()), 0.2 * 1.15);
}

TEST(StepBudget, GrowsBackWhenStepsGetFasterButNotPastTheBudget) {
  StepBudget b(512, 0.2);
  b.Observe(10, 512, 2.0);  // ten times too slow: halved at most per step
  EXPECT_EQ(b.prefill_with_decodes(), 256);
  for (int step = 0; step < 40; ++step) b.Observe(10, b.prefill_with_decodes(), 0.05);
  EXPECT_EQ(b.prefill_with_decodes(), 512);
}

TEST(StepBudget, NeverBelowTheFloorSoPromptsKeepMoving) {
  StepBudget b(512, 0.01);
  for (int step = 0; step < 40; ++step) b.Observe(64, b.prefill_with_decodes(), 0.5);
  EXPECT_EQ(b.prefill_with_decodes(), StepBudget::kMinPrefill);
}

TEST(StepBudget, StepsWithoutDecodesOrPromptTokensTeachNothing) {
  StepBudget b(512, 0.2);
  b.Observe(0, 512, 3.0);  // a prefill-only step stalls nobody
  b.Observe(32, 0, 3.0);   // decodes alone: no prompt tokens to hold back
  EXPECT_EQ(b.prefill_with_decodes(), 512);
}

TEST(StepBudget, AnUnusedAllowanceDoesNotGrow) {
  StepBudget b(512, 0.2);
  b.Observe(10, 400, 0.4);  // to 200
  const int32_t after_shrink = b.prefill_with_decodes();
  b.Observe(10, 20, 0.03);  // short, but only 20 of the allowance were wanted
  EXPECT_EQ(b.prefill_with_decodes(), after_shrink);
}

}  // namespace
}  // namespace xq
