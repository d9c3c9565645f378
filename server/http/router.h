// Router: method + path → route handler. Paths are exact, or regular expressions whose captures
// reach the handler as HttpRequest::matches. HEAD finds the GET route.
#pragma once

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "server/http/transport/http_message.h"

namespace xq {

using RouteHandler = std::function<void(HttpRequest&, HttpResponse&)>;

// kQuick routes never block (no engine wait, no model work): the transport may run them on its
// I/O threads, so /health answers even while every handler thread is busy streaming.
enum class RouteCost { kQuick, kBlocking };

struct Route {
  std::string method;
  std::string pattern;
  std::regex regex;
  bool exact = true;
  RouteCost cost = RouteCost::kBlocking;
  RouteHandler handler;
};

class Router {
 public:
  void Add(std::string method, std::string path, RouteCost cost, RouteHandler handler);
  // `pattern` is matched against the whole path.
  void AddPattern(std::string method, std::string pattern, RouteCost cost, RouteHandler handler);

  // The route for req (filling req.matches), or nullptr.
  const Route* Find(HttpRequest& req) const;
  // Whether some route serves this path with another method (405 rather than 404).
  bool PathKnown(const std::string& path) const;

 private:
  bool Matches(const Route& r, const std::string& path, std::smatch* m) const;

  std::vector<Route> routes_;
};

}  // namespace xq
