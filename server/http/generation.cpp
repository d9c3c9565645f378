#include "server/http/generation.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <limits>

#include "server/core/request_builder.h"
#include "server/core/submit_error.h"

namespace xq {

void RequireServedModel(const HttpContext& ctx, const ServingModel& model,
                        const std::string& requested) {
  if (requested.empty() || requested == model.name || requested == ctx.config.model) return;
  throw ApiError(404, "invalid_request_error",
                 "the model '" + requested + "' does not exist; this server serves '" +
                     model.name + "'",
                 "model", "model_not_found");
}

std::shared_ptr<Generation> StartGeneration(HttpContext& ctx, const ServingModel& model,
                                            ApiKind kind, OpenAiRequest request,
                                            const std::string& id, const HttpRequest& req,
                                            const HttpResponse& res) {
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
  g->peer_closed = req.peer_closed;
  try {
    g->stream = model.engine->Submit(std::move(generate));
  } catch (const std::exception& e) {
    throw SubmitApiError(ClassifySubmitError(e), ctx.config.retry_after_s);
  }
  return g;
}


namespace {

// Every prompt token with its score (the first has none: NaN) and at most `top` alternatives;
// the engine scored with as many as the echo and prompt_logprobs fields together asked for.
std::vector<TokenOutput> ScoredPrompt(const Generation& g, int32_t top) {
  std::vector<TokenOutput> out;
  out.push_back({g.prompt[0], std::numeric_limits<float>::quiet_NaN(), {}, 0});
  out.insert(out.end(), g.prompt_logprobs.begin(), g.prompt_logprobs.end());
  for (TokenOutput& t : out) {
    if (t.top_logprobs.size() > static_cast<size_t>(top)) t.top_logprobs.resize(top);
  }
  return out;
}

}  // namespace

bool Collect(Generation& g, HttpResponse& res) {
  while (!g.finished) {
    std::optional<RequestUpdate> update = g.stream->Next(kPollInterval);
    if (update) g.Take(*update);
    if (!g.finished && g.ClientGone()) {
      g.Cancel();
      // Only a client that half-closed reads this: TCP shows it the same as one that left.
      SendJson(res,
               ErrorBody("the client closed its side of the connection, so the request was "
                         "cancelled",
                         "invalid_request_error"),
               499);
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
  if (g.request.echo && g.request.params.logprobs && !g.prompt.empty()) {
    // The echoed prompt's tokens come first in each choice's logprobs.
    const auto echoed = ScoredPrompt(g, g.request.params.top_logprobs);
    for (auto& c : g.choices) c.tokens.insert(c.tokens.begin(), echoed.begin(), echoed.end());
  }
  if (g.request.prompt_logprobs >= 0 && !g.prompt.empty()) {
    const auto scored = ScoredPrompt(g, g.request.prompt_logprobs);
    for (auto& c : g.choices) c.prompt_logprobs = scored;
  }
  return true;
}


}  // namespace xq
