#include "server/core/api_error.h"

namespace xq {

nlohmann::json ErrorBody(const std::string& message, const std::string& type,
                         const std::string& param, const std::string& code) {
  nlohmann::json error = {{"message", message}, {"type", type}};
  error["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  error["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return {{"error", error}};
}

nlohmann::json ApiError::ToJson() const { return ErrorBody(what(), type_, param_, code_); }

ApiError InvalidRequestError(const std::string& param, const std::string& message,
                             const std::string& code) {
  return ApiError(400, "invalid_request_error", param.empty() ? message : param + ": " + message,
                  param, code);
}

const char* ErrorTypeForStatus(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 414:
    case 431:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 408:
      return "timeout_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace xq
