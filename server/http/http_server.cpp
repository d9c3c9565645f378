#include "server/http/http_server.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "engine/kv/kv_budget.h"
#include "server/core/api_key.h"
#include "server/core/health.h"
#include "server/core/json_fields.h"
#include "server/core/request_id.h"
#include "server/http/request_precheck.h"
#include "server/http/transport/body_inflater.h"

namespace xq {
namespace {

bool NeedsApiKey(const std::string& path) {
  return path.starts_with("/v1/") || path == "/tokenize" || path == "/detokenize";
}

// Runs a route, turning exceptions into OpenAI-shaped errors.
template <class F>
RouteHandler Guarded(HttpContext& ctx, F f) {
  return [&ctx, f](HttpRequest& req, HttpResponse& res) {
    try {
      if (!ctx.config.api_key.empty() && NeedsApiKey(req.path)) {
        const std::string auth = req.Header("Authorization");
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

nlohmann::json ModelCard(const ServingModel& m) {
  return {{"id", m.name},         {"object", "model"}, {"created", m.created},
          {"owned_by", "xquant"}, {"root", m.name},    {"max_model_len", m.max_model_len}};
}

void HandleTokenize(HttpContext& ctx, const HttpRequest& req, HttpResponse& res) {
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

void HandleDetokenize(HttpContext& ctx, const HttpRequest& req, HttpResponse& res) {
  const ServingModel& m = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  auto tokens = GetTokenList(body, "tokens", m.vocab_size);
  if (!tokens) throw InvalidRequestError("tokens", "is required");
  SendJson(res, {{"prompt", m.tokenizer->Decode(*tokens)}});
}

}  // namespace


namespace {

ApiError InflateError(InflateStatus status, std::string_view encoding, size_t limit) {
  switch (status) {
    case InflateStatus::kTooLarge:
      return ApiError(413, "invalid_request_error",
                      "the request body is larger than the server accepts (" +
                          std::to_string(limit) + " bytes, counted after decompression)",
                      "", "body_too_large");
    case InflateStatus::kUnsupported:
      return ApiError(415, "invalid_request_error",
                      "Content-Encoding '" + std::string(encoding.substr(0, 32)) +
                          "' is not supported (gzip, deflate, br)");
    default:
      return ApiError(400, "invalid_request_error",
                      "the request body could not be read (cut short, or not valid for its "
                      "Content-Encoding)");
  }
}

TransportOptions TransportOptionsFor(const ServerConfig& c) {
  TransportOptions o;
  o.host = c.host;
  o.port = static_cast<int>(c.port);
  o.read_timeout_s = c.read_timeout_s;
  o.write_timeout_s = c.write_timeout_s;
  o.keep_alive_timeout_s = c.keep_alive_timeout_s;
  o.max_body_bytes = static_cast<size_t>(ParseByteSize(c.max_body_size, "max_body_size"));
  o.handler_threads = static_cast<size_t>(c.http_threads);
  return o;
}

}  // namespace

HttpServer::HttpServer(ServerConfig config)
    : context_(std::make_unique<HttpContext>(std::move(config))),
      body_limit_(static_cast<size_t>(ParseByteSize(context_->config.max_body_size,
                                                    "max_body_size"))) {
  RegisterRoutes();
  transport_ = std::make_unique<HttpTransport>(TransportOptionsFor(context_->config),
                                              static_cast<HttpApplication&>(*this));
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::RegisterRoutes() {
  HttpContext& ctx = *context_;
  // CORS preflights for every route, without the API key (browsers never send it there).
  router_.AddPattern("OPTIONS", ".*", RouteCost::kQuick,
                     [&ctx](HttpRequest& req, HttpResponse& res) { ctx.cors.Preflight(req, res); });
  router_.Add("GET", "/health", RouteCost::kQuick, [&ctx](HttpRequest&, HttpResponse& res) {
    const ServingModel* m = ctx.model();
    std::optional<EngineStats> stats;
    if (m) stats = m->engine->Stats();
    const HealthReply reply = CheckHealth(ctx.state(), stats ? &*stats : nullptr);
    if (reply.retry_later) res.SetHeader("Retry-After", std::to_string(ctx.config.retry_after_s));
    SendJson(res, reply.body, reply.status);
  });
  router_.Add("GET", "/metrics", RouteCost::kQuick,
              Guarded(ctx, [&ctx](HttpRequest&, HttpResponse& res) {
                const ServingModel* m = ctx.model();
                std::optional<EngineStats> stats;
                if (m) stats = m->engine->Stats();
                res.SetContent(ctx.metrics.Render(stats, m ? m->name : ctx.config.served_model_name),
                               "text/plain; version=0.0.4; charset=utf-8");
              }));
  router_.Add("GET", "/v1/models", RouteCost::kQuick,
              Guarded(ctx, [&ctx](HttpRequest&, HttpResponse& res) {
                const ServingModel* m = ctx.model();
                nlohmann::json data = nlohmann::json::array();
                if (m) data.push_back(ModelCard(*m));
                SendJson(res, {{"object", "list"}, {"data", data}});
              }));
  router_.AddPattern("GET", R"(/v1/models/(.+))", RouteCost::kQuick,
                     Guarded(ctx, [&ctx](HttpRequest& req, HttpResponse& res) {
                       const ServingModel* m = ctx.model();
                       if (!m || req.matches[1] != m->name) {
                         throw ApiError(404, "invalid_request_error",
                                        "the model '" + req.matches[1] + "' does not exist",
                                        "model", "model_not_found");
                       }
                       SendJson(res, ModelCard(*m));
                     }));
  const auto post = [&](const std::string& path, auto handle) {
    router_.Add("POST", path, RouteCost::kBlocking, Guarded(ctx, handle));
  };
  post("/v1/chat/completions", [&ctx](HttpRequest& req, HttpResponse& res) {
    HandleGeneration(ctx, ApiKind::kChat, req, res);
  });
  post("/v1/completions", [&ctx](HttpRequest& req, HttpResponse& res) {
    HandleGeneration(ctx, ApiKind::kCompletion, req, res);
  });
  post("/v1/responses",
       [&ctx](HttpRequest& req, HttpResponse& res) { HandleResponses(ctx, req, res); });
  post("/tokenize", [&ctx](HttpRequest& req, HttpResponse& res) { HandleTokenize(ctx, req, res); });
  post("/detokenize",
       [&ctx](HttpRequest& req, HttpResponse& res) { HandleDetokenize(ctx, req, res); });
}

bool HttpServer::OnHead(HttpRequest& req, HttpResponse& res) {
  const std::string id = NewRequestId();
  res.SetHeader("X-Request-Id", id);
  context_->BeginAccess(id);
  context_->cors.AddHeaders(req, res);
  return RejectBeforeBody(req, res);
}

bool HttpServer::IsQuick(HttpRequest& req) {
  const Route* route = router_.Find(req);
  return route && route->cost == RouteCost::kQuick;
}

void HttpServer::Handle(HttpRequest& req, HttpResponse& res) {
  const std::string encoding = req.Header("Content-Encoding");
  if (!encoding.empty()) {
    InflateResult inflated = InflateBody(encoding, req.body, body_limit_);
    if (inflated.status != InflateStatus::kOk) {
      return SendError(res, InflateError(inflated.status, encoding, body_limit_));
    }
    req.body = std::move(inflated.body);
  }
  const Route* route = router_.Find(req);
  if (route) return route->handler(req, res);
  if (router_.PathKnown(req.path)) {
    res.SetHeader("Allow", "GET, HEAD, POST, OPTIONS");
    return SendError(res, ApiError(405, "invalid_request_error",
                                   "method " + req.method + " is not allowed on " + req.path));
  }
  SendError(res, ApiError(404, "invalid_request_error", "no route " + req.method + " " + req.path));
}

void HttpServer::OnTransportError(int status, std::string_view message, const HttpRequest&,
                                  HttpResponse& res) {
  // Requests refused before their head was read never got an id from OnHead.
  if (!res.HasHeader("X-Request-Id")) res.SetHeader("X-Request-Id", NewRequestId());
  SendJson(res, ErrorBody(std::string(message), ErrorTypeForStatus(status)), status);
}

void HttpServer::OnComplete(const HttpRequest& req, const HttpResponse& res) {
  HttpContext& ctx = *context_;
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
  spdlog::info("{} {} {} {} {}{} duration={:.3f}s", id.empty() ? "-" : id,
               req.remote_addr.empty() ? "-" : req.remote_addr,
               req.method.empty() ? "-" : req.method, req.path.empty() ? "-" : req.path,
               res.status, tokens, duration);
}

int HttpServer::Start() { return transport_->Start(); }

void HttpServer::Stop() {
  if (transport_) transport_->Stop();
}

}  // namespace xq
