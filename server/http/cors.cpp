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

void CorsPolicy::AddHeaders(const httplib::Request& req, httplib::Response& res) const {
  if (!any_ && origins_.empty()) return;
  res.set_header("Vary", "Origin");
  const std::string origin = req.get_header_value("Origin");
  if (!Allows(origin)) return;
  res.set_header("Access-Control-Allow-Origin", origin);
  res.set_header("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
}

void CorsPolicy::Preflight(const httplib::Request& req, httplib::Response& res) const {
  res.status = 204;
  res.set_header("Allow", kMethods);
  if (!Allows(req.get_header_value("Origin"))) return;
  res.set_header("Access-Control-Allow-Methods", kMethods);
  const std::string asked = req.get_header_value("Access-Control-Request-Headers");
  res.set_header("Access-Control-Allow-Headers",
                 asked.empty() ? "Authorization, Content-Type" : asked);
  res.set_header("Access-Control-Max-Age", "600");
}

}  // namespace xq
