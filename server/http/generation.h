// Generation: one request in flight in the engine as an HTTP handler sees it (the stream, the
// choices accumulated so far, metrics and access-log facts, disconnect detection), shared by the
// OpenAI routes: chat and completions, and the Responses API.
#pragma once

#include "server/http/transport/http_message.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/core/openai_response.h"
#include "server/http/http_context.h"

namespace xq {

// How often a handler waiting on the engine looks for a client that hung up.
inline constexpr std::chrono::milliseconds kPollInterval{50};

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One generation request in flight; shared by the handler and the streaming content provider,
// which the transport runs after the handler returned.
struct Generation {
  explicit Generation(HttpContext& context) : ctx(&context) { ctx->GenerationStarted(); }
  ~Generation() { ctx->GenerationEnded(); }
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  HttpContext* ctx;
  std::string request_id;  // X-Request-Id, the key of the access-log entry
  std::shared_ptr<RequestStream> stream;
  std::unique_ptr<ResponseFormatter> formatter;
  std::function<bool()> peer_closed;  // the transport's hang-up check
  OpenAiRequest request;
  std::string echo;
  std::vector<int32_t> prompt;               // what the engine got
  std::vector<TokenOutput> prompt_logprobs;  // with echo + logprobs, or prompt_logprobs
  Clock::time_point start;
  std::optional<Clock::time_point> first_token;
  Usage usage;
  std::vector<ChoiceResult> choices;
  std::string error;
  bool finished = false;
  bool recorded = false;
  bool stream_opened = false;
  Clock::time_point last_probe;

  // Polled between updates, but at most every kPollInterval: a busy engine delivers an update
  // every few milliseconds, so "no update came" alone would never trigger the check.
  bool ClientGone() {
    const auto now = Clock::now();
    if (now - last_probe < kPollInterval) return false;
    last_probe = now;
    return peer_closed();
  }

  void Take(const RequestUpdate& update) {
    if (!update.prompt_logprobs.empty()) prompt_logprobs = update.prompt_logprobs;
    if (!first_token) {
      for (const auto& d : update.deltas) {
        if (!d.tokens.empty()) first_token = Clock::now();
      }
    }
    for (const auto& d : update.deltas) {
      if (d.index >= 0 && static_cast<size_t>(d.index) < choices.size()) {
        choices[d.index].Append(d);
      }
    }
    usage = update.usage;
    if (!update.error.empty()) error = update.error;
    finished = finished || update.finished;
  }

  // Metrics and the access-log facts, once per request; `reason` overrides the choices' own.
  void Record(const std::string& reason = "") {
    if (recorded) return;
    recorded = true;
    RequestTiming t;
    const auto now = Clock::now();
    t.e2e_s = Seconds(now - start);
    if (first_token) t.ttft_s = Seconds(*first_token - start);
    t.prompt_tokens = usage.prompt_tokens;
    t.completion_tokens = usage.completion_tokens;
    t.finish_reason = reason;
    if (t.finish_reason.empty()) {
      t.finish_reason = !error.empty() ? "error" : "stop";
      for (const auto& c : choices) {
        if (c.finish == FinishKind::kLength) t.finish_reason = "length";
        if (c.finish == FinishKind::kAbort) t.finish_reason = "abort";
      }
    }
    ctx->metrics.ObserveRequest(t);
    AccessInfo info;
    info.prompt_tokens = usage.prompt_tokens;
    info.completion_tokens = usage.completion_tokens;
    info.ttft_s = t.ttft_s;
    ctx->UpdateAccess(request_id, info);
  }

  void Cancel() {
    if (finished) return;
    stream->Cancel();
    Record("abort");
  }
};

// A 404 unless `requested` is empty or names the served model.
void RequireServedModel(const HttpContext& ctx, const ServingModel& model,
                        const std::string& requested);

// Parses nothing: sets up and submits one prompt's generation (throws ApiError when the
// engine refuses it).
std::shared_ptr<Generation> StartGeneration(HttpContext& ctx, const ServingModel& model,
                                            ApiKind kind, OpenAiRequest request,
                                            const std::string& id, const HttpRequest& req,
                                            const HttpResponse& res);

// Waits for the whole result; false when the client left (res then says so). Throws ApiError
// when the engine failed the request.
bool Collect(Generation& g, HttpResponse& res);

}  // namespace xq
