#include "server/http/cors.h"

#include <algorithm>

namespace xq {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr const char* kMethods = "GET, POST, OPTIONS";

}  // namespace

CorsPolicy::CorsPolicy(std::string_view allowed) {
  while (!allowed.empty()) {
    const size_t comma = allowed.find(',');
    const std::string_view item = Trim(allowed.substr(0, comma));
    if (item == "*") {
      any_ = true;
    } else if (!item.empty()) {
      origins_.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    allowed.remove_prefix(comma + 1);
  }
}

bool CorsPolicy::Allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

void CorsPolicy::AddHeaders(const HttpRequest& req, HttpResponse& res) const {
  if (!any_ && origins_.empty()) return;
  res.SetHeader("Vary", "Origin");
  const std::string origin = req.Header("Origin");
  if (!Allows(origin)) return;
  res.SetHeader("Access-Control-Allow-Origin", origin);
  res.SetHeader("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
}

void CorsPolicy::Preflight(const HttpRequest& req, HttpResponse& res) const {
  res.status = 204;
  res.SetHeader("Allow", kMethods);
  if (!Allows(req.Header("Origin"))) return;
  res.SetHeader("Access-Control-Allow-Methods", kMethods);
  const std::string asked = req.Header("Access-Control-Request-Headers");
  res.SetHeader("Access-Control-Allow-Headers",
                 asked.empty() ? "Authorization, Content-Type" : asked);
  res.SetHeader("Access-Control-Max-Age", "600");
}

}  // namespace xq
