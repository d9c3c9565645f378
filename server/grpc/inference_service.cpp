#include "server/grpc/inference_service.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <thread>

#include "server/core/api_key.h"
#include "server/core/request_builder.h"
#include "server/core/request_id.h"
#include "server/core/submit_error.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/proto_convert.h"

namespace xq {
namespace pb = xquant::v1;
namespace {

constexpr std::chrono::milliseconds kPollInterval{50};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// The access-log facts of one call.
struct InferenceService::CallLog {
  std::string id = NewRequestId();
  Clock::time_point start = Clock::now();
  int32_t prompt_tokens = -1;
  int32_t completion_tokens = 0;
  std::optional<double> ttft_s;
};

void InferenceService::CheckApiKey(const grpc::ServerContext& context) const {
  if (config_.api_key.empty()) return;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  const std::string_view auth = it == metadata.end()
                                    ? std::string_view()
                                    : std::string_view(it->second.data(), it->second.size());
  if (!BearerKeyMatches(auth, config_.api_key)) {
    throw ApiError(401, "authentication_error",
                   auth.empty() ? "missing API key: send metadata 'authorization: Bearer KEY'"
                                : "incorrect API key",
                   "", "invalid_api_key");
  }
}

template <class F>
grpc::Status InferenceService::Guarded(grpc::ServerContext* context, const char* method,
                                       F&& handler) {
  CallLog log;
  context->AddInitialMetadata("x-request-id", log.id);
  grpc::Status status;
  try {
    CheckApiKey(*context);
    status = handler(log);
  } catch (const ApiError& e) {
    status = ToStatus(e);
  } catch (const std::exception& e) {
    spdlog::error("{} grpc {} failed: {}", log.id, method, e.what());
    status = grpc::Status(grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what());
  }
  if (config_.access_log) {
    std::string tokens;
    if (log.prompt_tokens >= 0) {
      tokens = fmt::format(" prompt_tokens={} output_tokens={}", log.prompt_tokens,
                           log.completion_tokens);
      if (log.ttft_s) tokens += fmt::format(" ttft={:.3f}s", *log.ttft_s);
    }
    spdlog::info("{} {} grpc {} {}{} duration={:.3f}s", log.id, context->peer(), method,
                 static_cast<int>(status.error_code()), tokens, Seconds(Clock::now() - log.start));
  }
  return status;
}

grpc::Status InferenceService::Generate(grpc::ServerContext* context,
                                        const pb::GenerateRequest* request,
                                        grpc::ServerWriter<pb::GenerateResponse>* writer) {
  return Guarded(context, "Generate", [&](CallLog& log) {
    GenerationStarted();
    struct Ended {
      ServingState& state;
      ~Ended() { state.GenerationEnded(); }
    } ended{*this};
    try {
      return StreamGeneration(context, *request, writer, log);
    } catch (const ApiError& e) {
      throw ToProtoFieldError(e, *request);
    }
  });
}

grpc::Status InferenceService::StreamGeneration(grpc::ServerContext* context,
                                                const pb::GenerateRequest& request,
                                                grpc::ServerWriter<pb::GenerateResponse>* writer,
                                                CallLog& log) {
  const ServingModel& model = RequireModel();
  if (!request.model().empty() && request.model() != model.name &&
      request.model() != config_.model) {
    throw ApiError(
        404, "invalid_request_error",
        "model: '" + request.model() + "' does not exist; this server serves '" + model.name + "'",
        "model", "model_not_found");
  }
  const OpenAiRequest parsed = ToOpenAiRequest(request, model.vocab_size);
  const std::string id = "gen-" + log.id;
  GenerateRequest generate = BuildGenerateRequest(parsed, *model.prompts, model.max_model_len, id);
  // The engine aborts past the deadline even while this thread is not looking.
  const auto remaining = context->deadline() - std::chrono::system_clock::now();
  if (remaining < std::chrono::hours(24 * 365)) {
    generate.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining);
  }
  log.prompt_tokens = static_cast<int32_t>(generate.prompt.size());
  std::shared_ptr<RequestStream> stream;
  try {
    stream = model.engine->Submit(std::move(generate));
  } catch (const std::exception& e) {
    return SubmitStatus(ToProtoFieldError(ClassifySubmitError(e), request), config_.retry_after_s);
  }

  RequestTiming timing;
  timing.prompt_tokens = log.prompt_tokens;
  std::vector<FinishKind> finishes(static_cast<size_t>(parsed.params.n), FinishKind::kNone);
  auto record = [&](const std::string& reason) {
    timing.e2e_s = Seconds(Clock::now() - log.start);
    timing.ttft_s = log.ttft_s;
    timing.completion_tokens = log.completion_tokens;
    timing.finish_reason = reason;
    metrics_->ObserveRequest(timing);
  };
  auto cancelled = [&](const char* why) {
    stream->Cancel();
    record("abort");
    return grpc::Status(grpc::StatusCode::CANCELLED, why);
  };

  pb::GenerateResponse response;
  while (true) {
    // True for a client that went away and for a passed deadline alike.
    if (context->IsCancelled()) return cancelled("the call was cancelled or its deadline passed");
    std::optional<RequestUpdate> update = stream->Next(kPollInterval);
    if (!update) continue;
    response.Clear();
    response.set_id(id);
    for (const SequenceDelta& d : update->deltas) {
      if (d.text.empty() && d.tokens.empty() && d.finish == FinishKind::kNone) continue;
      if (!log.ttft_s && !d.tokens.empty()) log.ttft_s = Seconds(Clock::now() - log.start);
      if (d.index >= 0 && static_cast<size_t>(d.index) < finishes.size() &&
          d.finish != FinishKind::kNone) {
        finishes[static_cast<size_t>(d.index)] = d.finish;
      }
      ToProto(d, *model.tokenizer, parsed.params.logprobs, response.add_choices());
    }
    ToProto(update->usage, response.mutable_usage());
    response.set_finished(update->finished);
    log.completion_tokens = update->usage.completion_tokens;
    if (!writer->Write(response)) return cancelled("the client stopped reading");
    if (!update->error.empty()) {
      record("error");
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "the engine failed on this request: " + update->error);
    }
    if (update->finished) break;
  }
  std::string reason = "stop";
  for (FinishKind f : finishes) {
    if (f == FinishKind::kLength && reason == "stop") reason = "length";
    if (f == FinishKind::kAbort) reason = "abort";
  }
  record(reason);
  if (reason == "abort") {
    // The engine ended it first: its deadline (handed to the engine) or a shutdown.
    if (context->deadline() <= std::chrono::system_clock::now()) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the deadline passed before the generation finished");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server aborted the generation while shutting down");
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Tokenize(grpc::ServerContext* context,
                                        const pb::TokenizeRequest* request,
                                        pb::TokenizeResponse* response) {
  return Guarded(context, "Tokenize", [&](CallLog&) {
    const ServingModel& model = RequireModel();
    std::vector<int32_t> tokens;
    if (request->has_chat()) {
      if (request->chat().messages().empty()) {
        throw InvalidRequestError("chat.messages", "must be a non-empty list of messages");
      }
      std::vector<ChatMessage> messages;
      for (const pb::ChatMessage& m : request->chat().messages()) {
        messages.push_back(TextMessage(m.role(), m.content()));
      }
      try {
        tokens = model.prompts->Chat(messages);
      } catch (const ApiError& e) {
        throw ApiError(e.status(), e.type(), std::string("chat.") + e.what(), "chat.messages");
      }
    } else if (request->has_text()) {
      const bool add_special = !request->has_add_special_tokens() || request->add_special_tokens();
      tokens = model.prompts->Text(request->text(), add_special);
    } else {
      throw InvalidRequestError("input", "one of text or chat is required");
    }
    for (int32_t t : tokens) {
      response->add_token_ids(t);
      if (request->return_token_strings()) {
        response->add_token_strings(model.tokenizer->TokenBytes(t));
      }
    }
    response->set_max_model_len(model.max_model_len);
    return grpc::Status::OK;
  });
}

grpc::Status InferenceService::GetModelInfo(grpc::ServerContext* context,
                                            const pb::GetModelInfoRequest*,
                                            pb::ModelInfo* response) {
  return Guarded(context, "GetModelInfo", [&](CallLog&) {
    const ServingModel& model = RequireModel();
    const EngineStats stats = model.engine->Stats();
    response->set_id(model.name);
    response->set_max_model_len(model.max_model_len);
    response->set_vocab_size(model.vocab_size);
    response->set_created(model.created);
    response->set_kv_profile(config_.kv_profile);
    response->set_kv_real_bits_per_element(stats.kv_real_bits_per_element);
    response->set_kv_blocks_total(stats.kv_blocks_total);
    return grpc::Status::OK;
  });
}

}  // namespace xq
