#include "server/core/health.h"

#include <string>

namespace xq {

HealthReply CheckHealth(ServerState state, const EngineStats* stats) {
  switch (state) {
    case ServerState::kLoading:
      return {503, {{"status", "loading"}}, true};
    case ServerState::kDraining:
      return {503, {{"status", "shutting_down"}}, false};
    case ServerState::kReady:
      break;
  }
  if (stats && stats->consecutive_failed_steps >= kUnhealthyAfterFailedSteps) {
    return {503,
            {{"status", "unhealthy"},
             {"error", "the last " + std::to_string(stats->consecutive_failed_steps) +
                           " engine steps failed: " + stats->last_step_error}},
            false};
  }
  if (stats && stats->running_step_seconds >= kHungStepSeconds) {
    return {
        503,
        {{"status", "unhealthy"},
         {"error", "an engine step has been running for " +
                       std::to_string(static_cast<int64_t>(stats->running_step_seconds)) + " s"}},
        false};
  }
  return {200, {{"status", "ok"}}, false};
}

}  // namespace xq
