// What /health answers, which container and Kubernetes probes (and `xquant health`) read: 200
// once the model is served, 503 while it loads or the server drains, and 503 when the engine's
// steps keep failing or one never ends (a GPU that is gone or hung: a restart is what helps).
// Unhealthy from failures lasts until a step succeeds.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/core/serving_state.h"

namespace xq {

// Failed steps in a row after which the server reports itself unhealthy: one failed step can be
// one bad batch (its requests got the error); several with no success between them is the device.
inline constexpr int32_t kUnhealthyAfterFailedSteps = 3;
// A step running this long is a hung device: a step is at most max_num_batched_tokens tokens, a
// few seconds even for a large model on a CPU.
inline constexpr double kHungStepSeconds = 600;

struct HealthReply {
  int status = 200;
  nlohmann::json body;
  bool retry_later = false;  // send Retry-After (loading)
};

// stats: the served engine's, when there is one.
HealthReply CheckHealth(ServerState state, const EngineStats* stats);

}  // namespace xq
