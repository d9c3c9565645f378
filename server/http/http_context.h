// HttpContext: the state the HTTP routes share: configuration, metrics, the serving model once
// loaded, the lifecycle state, and per-request access-log facts.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/api_error.h"
#include "server/core/metrics.h"
#include "server/core/prompt_builder.h"
#include "server/core/server_config.h"

namespace xq {

// What the routes need of a loaded model; every pointer outlives the HTTP server.
struct ServingModel {
  Engine* engine = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const PromptBuilder* prompts = nullptr;
  std::string name;  // the id clients use
  int64_t max_model_len = 0;
  int64_t vocab_size = 0;
  int64_t created = 0;  // unix seconds
};

enum class ServerState { kLoading, kReady, kDraining };

// Facts for a request's access-log line, filled in by its handler.
struct AccessInfo {
  Clock::time_point start;
  int32_t prompt_tokens = -1;
  int32_t completion_tokens = -1;
  std::optional<double> ttft_s;
};

class HttpContext {
 public:
  explicit HttpContext(ServerConfig config) : config(std::move(config)) {}

  const ServerConfig config;
  ServerMetrics metrics;

  // Publishes the model; routes serve requests from now on.
  void SetReady(ServingModel model);
  void SetDraining() { state_.store(ServerState::kDraining); }
  ServerState state() const { return state_.load(); }
  // The model, or throws 503 (loading / shutting down) for generation routes.
  const ServingModel& RequireModel() const;
  // The model whatever the state, or null while loading.
  const ServingModel* model() const {
    return state_.load() == ServerState::kLoading ? nullptr : &model_;
  }

  // Generation requests whose response is still being written (streams included).
  void GenerationStarted() { active_generations_.fetch_add(1); }
  void GenerationEnded() { active_generations_.fetch_sub(1); }
  int active_generations() const { return active_generations_.load(); }
  // Waits until no generation response is being written, at most `timeout`; true when none is.
  bool WaitGenerationsDone(std::chrono::milliseconds timeout) const;

  void BeginAccess(const std::string& request_id);
  void UpdateAccess(const std::string& request_id, const AccessInfo& info);
  std::optional<AccessInfo> EndAccess(const std::string& request_id);

 private:
  std::atomic<ServerState> state_{ServerState::kLoading};
  std::atomic<int> active_generations_{0};
  ServingModel model_;  // written once, before state_ becomes kReady
  std::mutex access_mutex_;
  std::map<std::string, AccessInfo> access_;
};

// Writes an OpenAI-shaped error (and Retry-After when set).
void SendError(httplib::Response& res, const ApiError& error);
void SendJson(httplib::Response& res, const nlohmann::json& body, int status = 200);
// The id the pre-routing handler assigned (also sent as X-Request-Id).
std::string RequestId(const httplib::Response& res);

// Translates what Engine::Submit throws into an ApiError.
ApiError SubmitError(const std::exception& e, int64_t retry_after_s);

}  // namespace xq
