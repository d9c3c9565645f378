// HttpServer: the OpenAI-compatible HTTP frontend (cpp-httplib): routes, API key, body limit,
// timeouts, request ids, access log. Listens before the model is loaded so /health can say so.
#pragma once

#include <memory>
#include <thread>

#include "server/core/openai_request.h"
#include "server/core/server_config.h"
#include "server/http/http_context.h"

namespace httplib {
class Server;
}

namespace xq {

class HttpServer {
 public:
  explicit HttpServer(ServerConfig config);
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds config.host:config.port (port 0: any free port) and serves on a background thread.
  // Returns the bound port; throws xq::Error naming host and port when binding fails.
  int Start();
  void SetReady(ServingModel model) { context_->SetReady(std::move(model)); }
  // /health turns 503; generation requests are refused by the engine from now on.
  void SetDraining() { context_->SetDraining(); }
  // Closes the listening socket, then waits for the connections being served.
  void Stop();

  HttpContext& context() { return *context_; }

 private:
  void RegisterRoutes();

  std::unique_ptr<HttpContext> context_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// The generation routes (/v1/chat/completions, /v1/completions), in generation_routes.cpp.
void HandleGeneration(HttpContext& ctx, ApiKind kind, const httplib::Request& req,
                      httplib::Response& res);
// POST /v1/responses (responses_route.cpp).
void HandleResponses(HttpContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace xq
