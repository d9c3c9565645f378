#include "server/core/serving_state.h"

#include <thread>

#include "server/core/api_error.h"

namespace xq {

void ServingState::SetReady(ServingModel model) {
  model_ = std::move(model);
  state_.store(ServerState::kReady);
}

const ServingModel& ServingState::RequireModel() const {
  const ServerState s = state_.load();
  if (s == ServerState::kReady) return model_;
  const bool loading = s == ServerState::kLoading;
  ApiError error(503, "service_unavailable_error",
                 loading ? "the model is still loading" : "the server is shutting down", "",
                 loading ? "model_loading" : "shutting_down");
  error.retry_after = retry_after_s_;
  throw error;
}

bool ServingState::WaitGenerationsDone(std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (active_generations() > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace xq
