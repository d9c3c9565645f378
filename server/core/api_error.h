// ApiError: a request failure in OpenAI's error shape {"error": {"message", "type", "param",
// "code"}} with the HTTP status it maps to; shared by every frontend.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/common/error.h"

namespace xq {

class ApiError : public Error {
 public:
  ApiError(int status, std::string type, std::string message, std::string param = "",
           std::string code = "")
      : Error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // Seconds a client should wait before retrying (429 / 503); absent otherwise.
  std::optional<int> retry_after;

  nlohmann::json ToJson() const;

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

// 400 naming the offending request field.
ApiError InvalidRequestError(const std::string& param, const std::string& message,
                             const std::string& code = "");

// The body for a status without a more specific message (404 route, 413 body, ...).
nlohmann::json ErrorBody(const std::string& message, const std::string& type,
                         const std::string& param = "", const std::string& code = "");

// The OpenAI error type for an HTTP status ("invalid_request_error", "authentication_error", ...).
const char* ErrorTypeForStatus(int status);

// Serializes without ever throwing on invalid UTF-8 (bad bytes become U+FFFD).
std::string DumpJson(const nlohmann::json& j);

}  // namespace xq
