// /v1/chat/completions and /v1/completions: parse, tokenize, submit to the engine, then either
// collect the whole answer or stream it as server-sent events. A client that goes away cancels
// its request: a failed write, or a hang-up seen while waiting for the engine.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <limits>

#include "server/core/json_fields.h"
#include "server/core/openai_response.h"
#include "server/core/request_builder.h"
#include "server/core/structured_output.h"
#include "server/core/tool_choice.h"
#include "server/http/connection_probe.h"
#include "server/http/http_server.h"

namespace xq {
namespace {

constexpr std::chrono::milliseconds kPollInterval{50};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One generation request in flight; shared by the handler and the streaming content provider,
// which httplib runs after the handler returned.
struct Generation {
  explicit Generation(HttpContext& context) : ctx(&context) { ctx->GenerationStarted(); }
  ~Generation() { ctx->GenerationEnded(); }
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  HttpContext* ctx;
  std::string request_id;  // X-Request-Id, the key of the access-log entry
  std::shared_ptr<RequestStream> stream;
  std::unique_ptr<ResponseFormatter> formatter;
  std::unique_ptr<ConnectionProbe> probe;
  OpenAiRequest request;
  std::string echo;
  std::vector<int32_t> prompt;               // what the engine got
  std::vector<TokenOutput> prompt_logprobs;  // with echo + logprobs
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
    return probe->PeerClosed();
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

bool Write(httplib::DataSink& sink, const std::string& data) {
  return sink.write(data.data(), data.size());
}

// Streams one engine update (or the opening chunks) per call; false ends the response early.
bool StreamStep(Generation& g, httplib::DataSink& sink) {
  if (!g.stream_opened) {
    g.stream_opened = true;
    for (int32_t i = 0; i < g.request.params.n; ++i) {
      if (g.request.kind == ApiKind::kChat) {
        if (!Write(sink, SseData(g.formatter->RoleChunk(i)))) return false;
      } else if (!g.echo.empty()) {
        SequenceDelta echo;
        echo.index = i;
        echo.text = g.echo;
        if (!Write(sink, SseData(g.formatter->DeltaChunk(echo)))) return false;
      }
    }
  }
  std::optional<RequestUpdate> update = g.stream->Next(kPollInterval);
  if (g.ClientGone()) {
    g.Cancel();
    return false;
  }
  if (!update) return true;
  g.Take(*update);
  for (const SequenceDelta& d : update->deltas) {
    if (d.text.empty() && d.tokens.empty() && d.finish == FinishKind::kNone) continue;
    if (!Write(sink, SseData(g.formatter->DeltaChunk(d)))) {
      g.Cancel();
      return false;
    }
  }
  if (!update->error.empty()) {
    // Headers are gone already: the error travels as an event, as OpenAI's streams do.
    Write(sink, SseData(ErrorBody(update->error, "server_error")));
  }
  if (g.finished) {
    if (g.request.include_usage) Write(sink, SseData(g.formatter->UsageChunk(g.usage)));
    Write(sink, kSseDone);
    g.Record();
    sink.done();
  }
  return true;
}

// Waits for the whole result; false when the client left (res then says so). Throws ApiError
// when the engine failed the request.
bool Collect(Generation& g, httplib::Response& res) {
  while (!g.finished) {
    std::optional<RequestUpdate> update = g.stream->Next(kPollInterval);
    if (update) g.Take(*update);
    if (!g.finished && g.ClientGone()) {
      g.Cancel();
      res.status = 499;  // nobody reads it; the access log shows the client left
      return false;
    }
  }
  g.Record();
  if (!g.error.empty()) {
    throw ApiError(500, "server_error", "the engine failed on this request: " + g.error);
  }
  if (!g.echo.empty()) {
    for (auto& c : g.choices) c.text = g.echo + c.text;
  }
  if (g.request.echo && g.request.params.prompt_logprobs >= 0 && !g.prompt.empty()) {
    // The echoed prompt's tokens come first in each choice's logprobs.
    std::vector<TokenOutput> echoed;
    echoed.push_back({g.prompt[0], std::numeric_limits<float>::quiet_NaN(), {}});
    echoed.insert(echoed.end(), g.prompt_logprobs.begin(), g.prompt_logprobs.end());
    for (auto& c : g.choices) c.tokens.insert(c.tokens.begin(), echoed.begin(), echoed.end());
  }
  return true;
}

void RespondWhole(Generation& g, httplib::Response& res) {
  if (Collect(g, res)) SendJson(res, g.formatter->Final(g.choices, g.usage));
}

// Several prompts in one completions request: all run at once in the engine; the response lists
// the choices of prompt i at n*i .. n*i + n-1 and sums the usage.
void RespondBatch(std::vector<std::shared_ptr<Generation>>& parts, httplib::Response& res) {
  std::vector<ChoiceResult> choices;
  Usage usage;
  for (auto& g : parts) {
    bool collected = false;
    try {
      collected = Collect(*g, res);
    } catch (...) {
      for (auto& other : parts) other->Cancel();
      throw;
    }
    if (!collected) {
      for (auto& other : parts) other->Cancel();
      return;
    }
    choices.insert(choices.end(), g->choices.begin(), g->choices.end());
    usage.prompt_tokens += g->usage.prompt_tokens;
    usage.completion_tokens += g->usage.completion_tokens;
    usage.cached_tokens += g->usage.cached_tokens;
  }
  SendJson(res, parts.front()->formatter->Final(choices, usage));
}

// Parses nothing: sets up and submits one prompt's generation.
std::shared_ptr<Generation> StartGeneration(HttpContext& ctx, const ServingModel& model,
                                            ApiKind kind, OpenAiRequest request,
                                            const std::string& id, const httplib::Request& req,
                                            const httplib::Response& res) {
  auto g = std::make_shared<Generation>(ctx);
  g->request_id = RequestId(res);
  g->start = Clock::now();
  g->request = std::move(request);
  GenerateRequest generate =
      BuildGenerateRequest(g->request, *model.prompts, model.max_model_len, id);
  if (g->request.echo) g->echo = PromptTextForEcho(g->request, *model.prompts);
  g->prompt = generate.prompt;
  g->usage.prompt_tokens = static_cast<int32_t>(generate.prompt.size());
  g->choices.resize(static_cast<size_t>(g->request.params.n));
  g->formatter = std::make_unique<ResponseFormatter>(kind, id, model.name,
                                                     static_cast<int64_t>(std::time(nullptr)),
                                                     *model.tokenizer, g->request.params);
  g->formatter->set_include_usage(g->request.include_usage);
  if (g->request.tools.calls_allowed() && model.tool_format) {
    g->formatter->set_tool_calls(*model.tool_format);
  }
  g->probe = std::make_unique<ConnectionProbe>(req.remote_addr, req.remote_port, req.local_port);
  if (!g->probe->found()) {
    spdlog::debug("{}: connection socket of {}:{} not found; disconnects are noticed on write only",
                  g->request_id, req.remote_addr, req.remote_port);
  }
  try {
    g->stream = model.engine->Submit(std::move(generate));
  } catch (const std::exception& e) {
    throw SubmitApiError(ClassifySubmitError(e), ctx.config.retry_after_s);
  }
  return g;
}

}  // namespace

void HandleGeneration(HttpContext& ctx, ApiKind kind, const httplib::Request& req,
                      httplib::Response& res) {
  const ServingModel& model = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  OpenAiRequest parsed = kind == ApiKind::kChat ? ParseChatRequest(body, model.vocab_size)
                                                : ParseCompletionRequest(body, model.vocab_size);
  if (parsed.params.grammar) KeepSchemaKeyOrder(*parsed.params.grammar, req.body);
  if (kind == ApiKind::kChat) ApplyToolChoice(parsed, model.tool_format);
  if (!parsed.model.empty() && parsed.model != model.name && parsed.model != ctx.config.model) {
    throw ApiError(
        404, "invalid_request_error",
        "the model '" + parsed.model + "' does not exist; this server serves '" + model.name + "'",
        "model", "model_not_found");
  }
  const std::string id = (kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-") + RequestId(res);
  std::vector<OpenAiRequest> prompts = SplitPromptBatch(parsed);
  if (prompts.size() > 1) {
    std::vector<std::shared_ptr<Generation>> parts;
    try {
      for (OpenAiRequest& p : prompts) {
        parts.push_back(StartGeneration(ctx, model, kind, std::move(p), id, req, res));
      }
    } catch (...) {
      for (auto& g : parts) g->Cancel();  // all or nothing
      throw;
    }
    return RespondBatch(parts, res);
  }
  auto g = StartGeneration(ctx, model, kind, std::move(prompts.front()), id, req, res);

  if (!g->request.stream) return RespondWhole(*g, res);

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [g](size_t, httplib::DataSink& sink) { return StreamStep(*g, sink); },
      // Runs when the response ends for any reason: a stream not finished by then lost its
      // client (or the server is stopping).
      [g](bool) { g->Cancel(); });
}

}  // namespace xq
