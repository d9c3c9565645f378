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

void SendJson(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendError(httplib::Response& res, const ApiError& error) {
  if (error.retry_after) res.set_header("Retry-After", std::to_string(*error.retry_after));
  SendJson(res, error.ToJson(), error.status());
}

std::string RequestId(const httplib::Response& res) { return res.get_header_value("X-Request-Id"); }

ApiError SubmitError(const std::exception& e, int64_t retry_after_s) {
  if (const auto* busy = dynamic_cast<const EngineBusy*>(&e)) {
    ApiError error =
        busy->shutting_down()
            ? ApiError(503, "service_unavailable_error", busy->what(), "", "shutting_down")
            : ApiError(429, "rate_limit_error", busy->what(), "", "queue_full");
    error.retry_after = static_cast<int>(retry_after_s);
    return error;
  }
  // InvalidRequest and any other boundary error: the request itself is at fault.
  if (dynamic_cast<const Error*>(&e)) {
    // Engine messages start with the field they refuse ("max_tokens: ...") when there is one.
    const std::string message = e.what();
    std::string field = message.substr(0, message.find(':'));
    if (field.size() == message.size() || field.find(' ') != std::string::npos) field.clear();
    return ApiError(400, "invalid_request_error", message, field);
  }
  return ApiError(500, "server_error", e.what());
}

}  // namespace xq
