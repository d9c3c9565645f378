#include "server/http/request_precheck.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "server/core/api_error.h"
#include "server/http/http_context.h"

namespace xq {
namespace {

bool Reject(HttpResponse& res, int status, const std::string& message) {
  res.SetHeader("Connection", "close");
  SendError(res, ApiError(status, "invalid_request_error", message));
  return true;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

}  // namespace

bool RejectBeforeBody(const HttpRequest& req, HttpResponse& res, size_t max_body) {
  const std::string& method = req.method;
  if (method != "GET" && method != "HEAD" && method != "POST" && method != "OPTIONS") {
    res.SetHeader("Allow", "GET, HEAD, POST, OPTIONS");
    return Reject(res, 405, "method " + method + " is not allowed");
  }
  const bool chunked = req.Header("Transfer-Encoding").find("chunked") !=
                       std::string::npos;
  if (!req.HasHeader("Content-Length")) {
    // Without a length or chunking, the body would only end when the client closes.
    if (method == "POST" && !chunked) {
      return Reject(res, 411, "a POST needs a Content-Length header (or chunked encoding)");
    }
    return false;
  }
  const std::string length = req.Header("Content-Length");
  if (!AllDigits(length) || length.size() > 19) {
    return Reject(res, 400, "Content-Length must be a number of bytes, got '" +
                                length.substr(0, 32) + "'");
  }
  if (std::stoull(length) > max_body) {
    return Reject(res, 413, "the request body is larger than the server accepts (" +
                                std::to_string(max_body) + " bytes)");
  }
  return false;
}

}  // namespace xq
