#include "server/http/http_context.h"

namespace xq {

void HttpContext::BeginAccess(const std::string& request_id) {
  std::lock_guard lock(access_mutex_);
  access_[request_id].start = Clock::now();
}

void HttpContext::UpdateAccess(const std::string& request_id, const AccessInfo& info) {
  std::lock_guard lock(access_mutex_);
  auto it = access_.find(request_id);
  if (it == access_.end()) return;
  const auto start = it->second.start;
  it->second = info;
  it->second.start = start;
}

std::optional<AccessInfo> HttpContext::EndAccess(const std::string& request_id) {
  std::lock_guard lock(access_mutex_);
  auto it = access_.find(request_id);
  if (it == access_.end()) return std::nullopt;
  AccessInfo info = it->second;
  access_.erase(it);
  return info;
}

void SendJson(HttpResponse& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.SetContent(DumpJson(body), "application/json");
}

void SendError(HttpResponse& res, const ApiError& error) {
  if (error.retry_after) res.SetHeader("Retry-After", std::to_string(*error.retry_after));
  SendJson(res, error.ToJson(), error.status());
}

std::string RequestId(const HttpResponse& res) { return res.Header("X-Request-Id"); }

ApiError SubmitApiError(const SubmitError& error, int64_t retry_after_s) {
  auto retry_later = [retry_after_s](ApiError api_error) {
    api_error.retry_after = static_cast<int>(retry_after_s);
    return api_error;
  };
  switch (error.kind) {
    case SubmitErrorKind::kInvalidRequest:
      return ApiError(400, "invalid_request_error", error.message, error.param);
    case SubmitErrorKind::kQueueFull:
      return retry_later(ApiError(429, "rate_limit_error", error.message, "", "queue_full"));
    case SubmitErrorKind::kShuttingDown:
      return retry_later(
          ApiError(503, "service_unavailable_error", error.message, "", "shutting_down"));
    case SubmitErrorKind::kInternal:
      break;
  }
  return ApiError(500, "server_error", "internal error: " + error.message);
}

}  // namespace xq
