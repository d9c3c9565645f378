#include "server/http/router.h"

namespace xq {

void Router::Add(std::string method, std::string path, RouteCost cost, RouteHandler handler) {
  routes_.push_back({std::move(method), std::move(path), {}, true, cost, std::move(handler)});
}

void Router::AddPattern(std::string method, std::string pattern, RouteCost cost,
                        RouteHandler handler) {
  std::regex regex(pattern);
  routes_.push_back(
      {std::move(method), std::move(pattern), std::move(regex), false, cost, std::move(handler)});
}

bool Router::Matches(const Route& r, const std::string& path, std::smatch* m) const {
  if (r.exact) return r.pattern == path;
  std::smatch local;
  return std::regex_match(path, m ? *m : local, r.regex);
}

const Route* Router::Find(HttpRequest& req) const {
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  for (const Route& r : routes_) {
    if (r.method != method) continue;
    std::smatch m;
    if (!Matches(r, req.path, &m)) continue;
    req.matches.clear();
    if (r.exact) {
      req.matches.push_back(req.path);
    } else {
      for (const auto& group : m) req.matches.push_back(group.str());
    }
    return &r;
  }
  return nullptr;
}

bool Router::PathKnown(const std::string& path) const {
  for (const Route& r : routes_) {
    if (r.method != "OPTIONS" && Matches(r, path, nullptr)) return true;
  }
  return false;
}

}  // namespace xq
