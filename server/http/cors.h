// CorsPolicy: which browser origins may call the API (--allowed-origins) and the CORS headers
// that tell them so, on every response and on OPTIONS preflights (which never need the API key:
// browsers do not send it there).
#pragma once

#include "server/http/transport/http_message.h"

#include <string>
#include <string_view>
#include <vector>

namespace xq {

class CorsPolicy {
 public:
  // "https://a.example,https://b.example", "*" for any origin, or empty for none.
  explicit CorsPolicy(std::string_view allowed_origins);

  bool Allows(std::string_view origin) const;
  // On every response: Access-Control-Allow-Origin for an allowed Origin, and Vary: Origin.
  void AddHeaders(const HttpRequest& req, HttpResponse& res) const;
  // OPTIONS: 204 with Allow; for an allowed origin also the methods and headers it may use.
  void Preflight(const HttpRequest& req, HttpResponse& res) const;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace xq
