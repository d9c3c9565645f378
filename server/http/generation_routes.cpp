// /v1/chat/completions and /v1/completions: parse, tokenize, submit to the engine, then either
// collect the whole answer or stream it as server-sent events. A client that goes away cancels
// its request: a failed write, or a hang-up seen while waiting for the engine.
#include "server/http/transport/http_message.h"
#include <spdlog/spdlog.h>

#include <ctime>
#include <limits>

#include "server/core/json_fields.h"
#include "server/core/openai_response.h"
#include "server/core/request_builder.h"
#include "server/core/structured_output.h"
#include "server/core/tool_choice.h"
#include "server/http/generation.h"
#include "server/http/http_server.h"

namespace xq {
namespace {

bool Write(ChunkSink& sink, const std::string& data) {
  return sink.Write(data);
}

// Streams one engine update (or the opening chunks) per call; false ends the response early.
bool StreamStep(Generation& g, ChunkSink& sink) {
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
    sink.Done();
  }
  return true;
}

void RespondWhole(Generation& g, HttpResponse& res) {
  if (Collect(g, res)) SendJson(res, g.formatter->Final(g.choices, g.usage));
}

// Several prompts in one completions request: all run at once in the engine; the response lists
// the choices of prompt i at n*i .. n*i + n-1 and sums the usage.
void RespondBatch(std::vector<std::shared_ptr<Generation>>& parts, HttpResponse& res) {
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

}  // namespace

void HandleGeneration(HttpContext& ctx, ApiKind kind, const HttpRequest& req,
                      HttpResponse& res) {
  const ServingModel& model = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  OpenAiRequest parsed = kind == ApiKind::kChat ? ParseChatRequest(body, model.vocab_size)
                                                : ParseCompletionRequest(body, model.vocab_size);
  if (parsed.params.grammar) KeepSchemaKeyOrder(*parsed.params.grammar, req.body);
  if (kind == ApiKind::kChat) ApplyToolChoice(parsed, model.tool_format);
  RequireServedModel(ctx, model, parsed.model);
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

  res.SetHeader("Cache-Control", "no-cache");
  res.SetHeader("X-Accel-Buffering", "no");
  res.Stream(
      "text/event-stream", [g](ChunkSink& sink) { return StreamStep(*g, sink); },
      // Runs when the response ends for any reason: a stream not finished by then lost its
      // client (or the server is stopping).
      [g] { g->Cancel(); });
}

}  // namespace xq
