#include "server/http/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "engine/kv/kv_budget.h"
#include "server/core/api_key.h"
#include "server/core/json_fields.h"
#include "server/core/request_id.h"
#include "server/http/request_precheck.h"

namespace xq {
namespace {

bool NeedsApiKey(const std::string& path) {
  return path.starts_with("/v1/") || path == "/tokenize" || path == "/detokenize";
}

void SplitSeconds(double s, time_t& sec, time_t& usec) {
  sec = static_cast<time_t>(s);
  usec = static_cast<time_t>(std::lround((s - static_cast<double>(sec)) * 1e6));
}

// Runs a route, turning exceptions into OpenAI-shaped errors.
template <class F>
httplib::Server::Handler Guarded(HttpContext& ctx, F f) {
  return [&ctx, f](const httplib::Request& req, httplib::Response& res) {
    try {
      if (!ctx.config.api_key.empty() && NeedsApiKey(req.path)) {
        const std::string auth = req.get_header_value("Authorization");
        if (!BearerKeyMatches(auth, ctx.config.api_key)) {
          throw ApiError(401, "authentication_error",
                         auth.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                      : "incorrect API key",
                         "", "invalid_api_key");
        }
      }
      f(req, res);
    } catch (const ApiError& e) {
      SendError(res, e);
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", req.method, req.path, e.what());
      SendError(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
    }
  };
}

// A POST route that reads its body through httplib's content reader, which inflates gzip,
// deflate and br bodies as they arrive, capping the inflated size at --max-body-size (413): the
// transport's own limit sees only the compressed bytes (a 51 KB gzip body inflating to 50 MB
// once cost 86 s of CPU and 2.7 GB of memory).
httplib::Server::HandlerWithContentReader WithBody(size_t limit, httplib::Server::Handler route) {
  return [limit, route](const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& read) {
    httplib::Request with_body = req;
    bool too_large = false;
    const bool complete = read([&](const char* data, size_t n) {
      if (with_body.body.size() + n > limit) {
        too_large = true;
        return false;
      }
      with_body.body.append(data, n);
      return true;
    });
    if (complete) return route(with_body, res);
    // httplib's own limit on the bytes as sent stopped it.
    too_large = too_large || req.get_header_value<uint64_t>("Content-Length") > limit;
    // The rest of the body stays unread: this connection cannot carry another request.
    res.set_header("Connection", "close");
    SendError(res, too_large ? ApiError(413, "invalid_request_error",
                                        "the request body is larger than the server accepts (" +
                                            std::to_string(limit) +
                                            " bytes, counted after decompression)",
                                        "", "body_too_large")
                             : ApiError(400, "invalid_request_error",
                                        "the request body could not be read (cut short, or not "
                                        "valid for its Content-Encoding)"));
  };
}

nlohmann::json ModelCard(const ServingModel& m) {
  return {{"id", m.name},         {"object", "model"}, {"created", m.created},
          {"owned_by", "xquant"}, {"root", m.name},    {"max_model_len", m.max_model_len}};
}

void HandleTokenize(HttpContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ServingModel& m = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  const bool add_special = GetBool(body, "add_special_tokens").value_or(true);
  std::vector<int32_t> tokens;
  if (body.contains("messages") && !body["messages"].is_null()) {
    nlohmann::json chat = body;
    OpenAiRequest parsed = ParseChatRequest(chat, m.vocab_size);
    tokens = m.prompts->Chat(parsed.messages);
  } else if (auto prompt = GetString(body, "prompt")) {
    tokens = m.prompts->Text(*prompt, add_special);
  } else {
    throw InvalidRequestError("prompt", "is required (or messages)");
  }
  SendJson(res, {{"tokens", tokens}, {"count", tokens.size()}, {"max_model_len", m.max_model_len}});
}

void HandleDetokenize(HttpContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ServingModel& m = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  auto tokens = GetTokenList(body, "tokens", m.vocab_size);
  if (!tokens) throw InvalidRequestError("tokens", "is required");
  SendJson(res, {{"prompt", m.tokenizer->Decode(*tokens)}});
}

}  // namespace

HttpServer::HttpServer(ServerConfig config)
    : context_(std::make_unique<HttpContext>(std::move(config))),
      server_(std::make_unique<httplib::Server>()) {
  const ServerConfig& c = context_->config;
  const size_t threads = static_cast<size_t>(c.http_threads);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  time_t sec, usec;
  SplitSeconds(c.read_timeout_s, sec, usec);
  server_->set_read_timeout(sec, usec);
  SplitSeconds(c.write_timeout_s, sec, usec);
  server_->set_write_timeout(sec, usec);
  server_->set_keep_alive_timeout(std::max<time_t>(1, std::lround(c.keep_alive_timeout_s)));
  server_->set_payload_max_length(
      static_cast<size_t>(ParseByteSize(c.max_body_size, "max_body_size")));
  server_->set_tcp_nodelay(true);
  RegisterRoutes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::RegisterRoutes() {
  HttpContext& ctx = *context_;
  const auto body_limit =
      static_cast<size_t>(ParseByteSize(ctx.config.max_body_size, "max_body_size"));
  server_->set_pre_routing_handler([&ctx, body_limit](const httplib::Request& req,
                                                      httplib::Response& res) {
    const std::string id = NewRequestId();
    res.set_header("X-Request-Id", id);
    ctx.BeginAccess(id);
    ctx.cors.AddHeaders(req, res);
    return RejectBeforeBody(req, res, body_limit) ? httplib::Server::HandlerResponse::Handled
                                                  : httplib::Server::HandlerResponse::Unhandled;
  });
  // CORS preflights for every route, without the API key (browsers never send it there).
  server_->Options(".*", [&ctx](const httplib::Request& req, httplib::Response& res) {
    ctx.cors.Preflight(req, res);
  });
  // Errors httplib produces itself (unknown route, body too large, bad request line).
  server_->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        // Requests the transport refused before routing (a bad request line, a URI too long)
        // never got an id from the pre-routing handler.
        if (!res.has_header("X-Request-Id")) res.set_header("X-Request-Id", NewRequestId());
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message =
            "the request could not be served (HTTP " + std::to_string(res.status) + ")";
        if (res.status == 400) message = "malformed HTTP request";
        if (res.status == 404) message = "no route " + req.method + " " + req.path;
        if (res.status == 413) message = "the request body is larger than the server accepts";
        if (res.status == 414) message = "the request URI is too long";
        SendJson(res, ErrorBody(message, ErrorTypeForStatus(res.status)), res.status);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server_->set_logger([&ctx](const httplib::Request& req, const httplib::Response& res) {
    ctx.metrics.CountResponse(res.status);
    const std::string id = RequestId(res);
    auto info = ctx.EndAccess(id);
    if (!ctx.config.access_log) return;
    const double duration =
        info ? std::chrono::duration<double>(Clock::now() - info->start).count() : 0.0;
    std::string tokens;
    if (info && info->prompt_tokens >= 0) {
      tokens = fmt::format(" prompt_tokens={} output_tokens={}", info->prompt_tokens,
                           std::max(info->completion_tokens, 0));
      if (info->ttft_s) tokens += fmt::format(" ttft={:.3f}s", *info->ttft_s);
    }
    spdlog::info("{} {} {} {} {}{} duration={:.3f}s", id.empty() ? "-" : id, req.remote_addr,
                 req.method, req.path, res.status, tokens, duration);
  });

  server_->Get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    switch (ctx.state()) {
      case ServerState::kReady:
        return SendJson(res, {{"status", "ok"}});
      case ServerState::kLoading:
        res.set_header("Retry-After", std::to_string(ctx.config.retry_after_s));
        return SendJson(res, {{"status", "loading"}}, 503);
      case ServerState::kDraining:
        return SendJson(res, {{"status", "shutting_down"}}, 503);
    }
  });
  server_->Get("/metrics", Guarded(ctx, [&ctx](const httplib::Request&, httplib::Response& res) {
                 const ServingModel* m = ctx.model();
                 std::optional<EngineStats> stats;
                 if (m) stats = m->engine->Stats();
                 res.set_content(
                     ctx.metrics.Render(stats, m ? m->name : ctx.config.served_model_name),
                     "text/plain; version=0.0.4; charset=utf-8");
               }));
  server_->Get("/v1/models", Guarded(ctx, [&ctx](const httplib::Request&, httplib::Response& res) {
                 const ServingModel* m = ctx.model();
                 nlohmann::json data = nlohmann::json::array();
                 if (m) data.push_back(ModelCard(*m));
                 SendJson(res, {{"object", "list"}, {"data", data}});
               }));
  server_->Get(R"(/v1/models/(.+))",
               Guarded(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                 const ServingModel* m = ctx.model();
                 if (!m || req.matches[1] != m->name) {
                   throw ApiError(404, "invalid_request_error",
                                  "the model '" + std::string(req.matches[1]) + "' does not exist",
                                  "model", "model_not_found");
                 }
                 SendJson(res, ModelCard(*m));
               }));
  const auto post = [&](const std::string& path, auto handle) {
    server_->Post(path, WithBody(body_limit, Guarded(ctx, handle)));
  };
  post("/v1/chat/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleGeneration(ctx, ApiKind::kChat, req, res);
  });
  post("/v1/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleGeneration(ctx, ApiKind::kCompletion, req, res);
  });
  post("/v1/responses", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleResponses(ctx, req, res);
  });
  post("/tokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleTokenize(ctx, req, res);
  });
  post("/detokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleDetokenize(ctx, req, res);
  });
}

int HttpServer::Start() {
  const ServerConfig& c = context_->config;
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second server on the
  // same port starts and the kernel splits connections between the two.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  int port = static_cast<int>(c.port);
  if (port == 0) {
    port = server_->bind_to_any_port(c.host);
    if (port < 0) throw Error("host: cannot bind " + c.host + " to any port");
  } else if (!server_->bind_to_port(c.host, port)) {
    throw Error("port: cannot bind " + c.host + ":" + std::to_string(port) +
                ": address in use, or not an address of this machine");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port;
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xq
