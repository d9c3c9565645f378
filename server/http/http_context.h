// HttpContext: the state the HTTP routes share: configuration, the CORS policy, metrics, the
// serving state (model and lifecycle) and per-request access-log facts.
#pragma once

#include "server/http/transport/http_message.h"

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
#include "server/core/serving_state.h"
#include "server/core/submit_error.h"
#include "server/http/cors.h"

namespace xq {

// Facts for a request's access-log line, filled in by its handler.
struct AccessInfo {
  Clock::time_point start;
  int32_t prompt_tokens = -1;
  int32_t completion_tokens = -1;
  std::optional<double> ttft_s;
};

class HttpContext : public ServingState {
 public:
  explicit HttpContext(ServerConfig config)
      : ServingState(static_cast<int>(config.retry_after_s)),
        config(std::move(config)),
        cors(this->config.allowed_origins) {}

  const ServerConfig config;
  const CorsPolicy cors;
  ServerMetrics metrics;

  void BeginAccess(const std::string& request_id);
  void UpdateAccess(const std::string& request_id, const AccessInfo& info);
  std::optional<AccessInfo> EndAccess(const std::string& request_id);

 private:
  std::mutex access_mutex_;
  std::map<std::string, AccessInfo> access_;
};

// Writes an OpenAI-shaped error (and Retry-After when set).
void SendError(HttpResponse& res, const ApiError& error);
void SendJson(HttpResponse& res, const nlohmann::json& body, int status = 200);
// The id the pre-routing handler assigned (also sent as X-Request-Id).
std::string RequestId(const HttpResponse& res);

// The HTTP answer to a refused submission: 400 naming the field, 429 (queue full) or 503
// (shutting down) with Retry-After, 500 for a server fault.
ApiError SubmitApiError(const SubmitError& error, int64_t retry_after_s);

}  // namespace xq
