// HttpServer: the OpenAI-compatible HTTP frontend: routes, API key, body decoding and limit,
// request ids, CORS, access log, on the Beast transport (http_transport.h). Listens before the
// model is loaded so /health can say so.
#pragma once

#include <memory>

#include "server/core/openai_request.h"
#include "server/core/server_config.h"
#include "server/http/http_context.h"
#include "server/http/transport/http_transport.h"
#include "server/http/router.h"


namespace xq {

class HttpServer : private HttpApplication {
 public:
  explicit HttpServer(ServerConfig config);
  ~HttpServer() override;  // stops and joins
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

  // HttpApplication, called by the transport.
  bool OnHead(HttpRequest& req, HttpResponse& res) override;
  bool IsQuick(HttpRequest& req) override;
  void Handle(HttpRequest& req, HttpResponse& res) override;
  void OnTransportError(int status, std::string_view message, const HttpRequest& req,
                        HttpResponse& res) override;
  void OnComplete(const HttpRequest& req, const HttpResponse& res) override;

  std::unique_ptr<HttpContext> context_;
  size_t body_limit_;  // bytes, after decompression
  Router router_;
  std::unique_ptr<HttpTransport> transport_;
};

// The generation routes (/v1/chat/completions, /v1/completions), in generation_routes.cpp.
void HandleGeneration(HttpContext& ctx, ApiKind kind, const HttpRequest& req,
                      HttpResponse& res);
// POST /v1/responses (responses_route.cpp).
void HandleResponses(HttpContext& ctx, const HttpRequest& req, HttpResponse& res);

}  // namespace xq
