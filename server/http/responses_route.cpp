// POST /v1/responses: the Responses API over the chat machinery (stateless), whole or streamed
// as typed events.
#include "server/http/transport/http_message.h"

#include <ctime>

#include "server/core/json_fields.h"
#include "server/core/responses_output.h"
#include "server/core/responses_request.h"
#include "server/core/tool_choice.h"
#include "server/http/generation.h"
#include "server/http/http_server.h"

namespace xq {
namespace {

struct ResponseStream {
  std::shared_ptr<Generation> generation;
  ResponseEvents events;
  bool started = false;
};

bool Write(ChunkSink& sink, const std::string& data) {
  return data.empty() || sink.Write(data);
}

// One engine update per call; false ends the response early.
bool ResponseStep(ResponseStream& s, ChunkSink& sink) {
  Generation& g = *s.generation;
  if (!s.started) {
    s.started = true;
    if (!Write(sink, s.events.Start())) return false;
  }
  std::optional<RequestUpdate> update = g.stream->Next(kPollInterval);
  if (g.ClientGone()) {
    g.Cancel();
    return false;
  }
  if (!update) return true;
  g.Take(*update);
  for (const SequenceDelta& d : update->deltas) {
    if (!Write(sink, s.events.Delta(d.text))) {
      g.Cancel();
      return false;
    }
  }
  if (g.finished) {
    const FinishKind finish = !g.error.empty() ? FinishKind::kError : g.choices[0].finish;
    Write(sink, s.events.Finish(finish, g.usage));
    g.Record();
    sink.Done();
  }
  return true;
}

}  // namespace

void HandleResponses(HttpContext& ctx, const HttpRequest& req, HttpResponse& res) {
  const ServingModel& model = ctx.RequireModel();
  const nlohmann::json body = ParseJsonObject(req.body);
  ResponsesRequest parsed = ParseResponsesRequest(body, req.body, model.vocab_size);
  ApplyToolChoice(parsed.chat, model.tool_format);
  RequireServedModel(ctx, model, parsed.chat.model);
  ResponseMeta meta;
  meta.id = "resp_" + RequestId(res);
  meta.created = static_cast<int64_t>(std::time(nullptr));
  meta.model = model.name;
  meta.echo = std::move(parsed.echo);
  if (parsed.chat.tools.calls_allowed()) meta.tools = model.tool_format;
  const bool stream = parsed.chat.stream;
  auto g = StartGeneration(ctx, model, ApiKind::kChat, std::move(parsed.chat), meta.id, req, res);
  if (!stream) {
    if (Collect(*g, res)) {
      SendJson(res, ResponseObject(meta, g->choices[0].text, g->choices[0].finish, g->usage));
    }
    return;
  }
  auto s = std::make_shared<ResponseStream>(ResponseStream{g, ResponseEvents(std::move(meta))});
  res.SetHeader("Cache-Control", "no-cache");
  res.SetHeader("X-Accel-Buffering", "no");
  res.Stream(
      "text/event-stream", [s](ChunkSink& sink) { return ResponseStep(*s, sink); },
      [s] { s->generation->Cancel(); });
}

}  // namespace xq
