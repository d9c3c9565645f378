// /health's answers: by the server's state, and unhealthy once the engine's steps keep failing.
#include "server/core/health.h"

#include <gtest/gtest.h>

namespace xq {
namespace {

TEST(Health, FollowsTheServersStateAndTheEnginesFailedSteps) {
  EXPECT_EQ(CheckHealth(ServerState::kLoading, nullptr).status, 503);
  EXPECT_TRUE(CheckHealth(ServerState::kLoading, nullptr).retry_later);
  EXPECT_EQ(CheckHealth(ServerState::kDraining, nullptr).body["status"], "shutting_down");
  EngineStats stats;
  HealthReply ok = CheckHealth(ServerState::kReady, &stats);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body["status"], "ok");
  // Failures interleaved with successes (a bad batch now and then) leave it healthy.
  stats.failed_steps = 40;
  stats.consecutive_failed_steps = kUnhealthyAfterFailedSteps - 1;
  stats.last_step_error = "CUDA: out of memory";
  EXPECT_EQ(CheckHealth(ServerState::kReady, &stats).status, 200);
  stats.consecutive_failed_steps = kUnhealthyAfterFailedSteps;
  const HealthReply sick = CheckHealth(ServerState::kReady, &stats);
  EXPECT_EQ(sick.status, 503);
  EXPECT_EQ(sick.body["status"], "unhealthy");
  EXPECT_EQ(sick.body["error"], "the last 3 engine steps failed: CUDA: out of memory");
  EXPECT_FALSE(sick.retry_later);
  // A step that never ends (a hung device), even with no failure.
  stats.consecutive_failed_steps = 0;
  stats.running_step_seconds = kHungStepSeconds - 1;
  EXPECT_EQ(CheckHealth(ServerState::kReady, &stats).status, 200);
  stats.running_step_seconds = kHungStepSeconds + 1;
  const HealthReply hung = CheckHealth(ServerState::kReady, &stats);
  EXPECT_EQ(hung.status, 503);
  EXPECT_EQ(hung.body["error"], "an engine step has been running for 601 s");
}

}  // namespace
}  // namespace xq
