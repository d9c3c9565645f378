#include "server/http/request_precheck.h"

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

}  // namespace

bool RejectBeforeBody(const HttpRequest& req, HttpResponse& res) {
  const std::string& method = req.method;
  if (method != "GET" && method != "HEAD" && method != "POST" && method != "OPTIONS") {
    res.SetHeader("Allow", "GET, HEAD, POST, OPTIONS");
    return Reject(res, 405, "method " + method + " is not allowed");
  }
  const bool chunked = req.Header("Transfer-Encoding").find("chunked") !=
                       std::string::npos;
  // Without a length or chunking, the body would only end when the client closes.
  if (!req.HasHeader("Content-Length") && method == "POST" && !chunked) {
    return Reject(res, 411, "a POST needs a Content-Length header (or chunked encoding)");
  }
  return false;
}

}  // namespace xq
