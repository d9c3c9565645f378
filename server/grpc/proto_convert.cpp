#include "server/grpc/proto_convert.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string_view>

#include "engine/tokenizer/unicode_util.h"

namespace xq {
namespace pb = xquant::v1;
namespace {

constexpr std::array<std::string_view, 17> kSamplingFields = {"temperature",
                                                              "top_p",
                                                              "top_k",
                                                              "min_p",
                                                              "max_tokens",
                                                              "min_tokens",
                                                              "n",
                                                              "stop",
                                                              "stop_token_ids",
                                                              "seed",
                                                              "presence_penalty",
                                                              "frequency_penalty",
                                                              "repetition_penalty",
                                                              "logit_bias",
                                                              "logprobs",
                                                              "top_logprobs",
                                                              "ignore_eos"};

std::vector<int32_t> TokenIds(const pb::TokenIds& ids, int64_t vocab_size) {
  std::vector<int32_t> out(ids.ids().begin(), ids.ids().end());
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] < 0 || out[i] >= vocab_size) {
      throw InvalidRequestError("token_ids.ids[" + std::to_string(i) + "]",
                                "token id " + std::to_string(out[i]) +
                                    " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                                    ")");
    }
  }
  return out;
}

void ToSampling(const pb::SamplingParams& s, OpenAiRequest& r) {
  SamplingParams& p = r.params;
  if (s.has_temperature()) p.temperature = s.temperature();
  if (s.has_top_p()) p.top_p = s.top_p();
  // -1 means "off" in vLLM, as over HTTP.
  if (s.has_top_k()) p.top_k = s.top_k() == -1 ? 0 : s.top_k();
  if (s.has_min_p()) p.min_p = s.min_p();
  if (s.has_min_tokens()) p.min_tokens = s.min_tokens();
  if (s.has_n()) p.n = s.n();
  p.stop.assign(s.stop().begin(), s.stop().end());
  p.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  if (s.has_seed()) p.seed = s.seed();
  if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
  if (s.has_repetition_penalty()) p.repetition_penalty = s.repetition_penalty();
  for (const auto& [token, bias] : s.logit_bias()) p.logit_bias[token] = bias;
  p.logprobs = s.logprobs();
  p.top_logprobs = s.top_logprobs();
  p.ignore_eos = s.ignore_eos();
  if (s.has_max_tokens()) {
    p.max_tokens = s.max_tokens();
    r.max_tokens_given = true;
  } else if (r.kind == ApiKind::kChat) {
    p.max_tokens = std::numeric_limits<int32_t>::max();  // fitted to the context later
  }
}

}  // namespace

OpenAiRequest ToOpenAiRequest(const pb::GenerateRequest& request, int64_t vocab_size) {
  OpenAiRequest r;
  r.model = request.model();
  switch (request.prompt_case()) {
    case pb::GenerateRequest::kText:
      r.kind = ApiKind::kCompletion;
      r.prompt_text = request.text();
      break;
    case pb::GenerateRequest::kTokenIds:
      r.kind = ApiKind::kCompletion;
      r.prompt_ids = TokenIds(request.token_ids(), vocab_size);
      if (r.prompt_ids->empty()) throw InvalidRequestError("token_ids.ids", "must not be empty");
      break;
    case pb::GenerateRequest::kChat:
      r.kind = ApiKind::kChat;
      if (request.chat().messages().empty()) {
        throw InvalidRequestError("chat.messages", "must be a non-empty list of messages");
      }
      for (const pb::ChatMessage& m : request.chat().messages()) {
        r.messages.push_back(TextMessage(m.role(), m.content()));
      }
      break;
    default:
      throw InvalidRequestError("prompt", "one of text, chat or token_ids is required");
  }
  ToSampling(request.sampling(), r);
  if (request.priority() < -1'000'000 || request.priority() > 1'000'000) {
    throw InvalidRequestError("priority", "must be within [-1000000, 1000000]");
  }
  r.priority = request.priority();
  try {
    // kChat keeps SamplingParams' own field names in its errors (completions rename one).
    ValidateSamplingParams(r.params, ApiKind::kChat, vocab_size);
  } catch (const ApiError& e) {
    throw ToProtoFieldError(e, request);
  }
  return r;
}

namespace {

// The proto field of `request` that carried the OpenAI field `param`, and `message` with its
// leading "param: " renamed to it; nothing when `param` is empty or no OpenAI name.
struct RenamedField {
  std::string field;
  std::string message;
};
std::optional<RenamedField> RenameToProtoField(const std::string& param, const std::string& message,
                                               const pb::GenerateRequest& request) {
  if (param.empty()) return std::nullopt;
  std::string field;
  const std::string head = param.substr(0, param.find_first_of(".["));
  if (param == "max_completion_tokens") {
    field = "sampling.max_tokens";
  } else if (std::find(kSamplingFields.begin(), kSamplingFields.end(), head) !=
             kSamplingFields.end()) {
    field = "sampling." + param;
  } else if (head == "messages") {
    field = "chat." + param;
  } else if (param == "prompt" && request.prompt_case() == pb::GenerateRequest::kTokenIds) {
    field = "token_ids";
  } else if (param == "prompt" && request.prompt_case() == pb::GenerateRequest::kText) {
    field = "text";
  } else {
    return std::nullopt;
  }
  const bool names_param = message.starts_with(param + ": ");
  return RenamedField{field, names_param ? field + message.substr(param.size()) : message};
}

}  // namespace

ApiError ToProtoFieldError(const ApiError& error, const pb::GenerateRequest& request) {
  const auto renamed = RenameToProtoField(error.param(), error.what(), request);
  if (!renamed) return error;
  ApiError out(error.status(), error.type(), renamed->message, renamed->field, error.code());
  out.retry_after = error.retry_after;
  return out;
}

SubmitError ToProtoFieldError(const SubmitError& error, const pb::GenerateRequest& request) {
  const auto renamed = RenameToProtoField(error.param, error.message, request);
  if (!renamed) return error;
  return {error.kind, renamed->message, renamed->field};
}

pb::FinishReason ToProto(FinishKind kind) {
  switch (kind) {
    case FinishKind::kStop:
      return pb::FINISH_REASON_STOP;
    case FinishKind::kLength:
      return pb::FINISH_REASON_LENGTH;
    case FinishKind::kAbort:
      return pb::FINISH_REASON_ABORT;
    case FinishKind::kError:
      return pb::FINISH_REASON_ERROR;
    case FinishKind::kNone:
      break;
  }
  return pb::FINISH_REASON_UNSPECIFIED;
}

void ToProto(const Usage& usage, pb::Usage* out) {
  out->set_prompt_tokens(usage.prompt_tokens);
  out->set_completion_tokens(usage.completion_tokens);
  out->set_cached_tokens(usage.cached_tokens);
}

void ToProto(const SequenceDelta& delta, const Tokenizer& tokenizer, bool with_logprobs,
             pb::ChoiceDelta* out) {
  out->set_index(delta.index);
  // proto3 strings must be UTF-8; the detokenizer holds partial characters back, so this only
  // changes text at a sequence's end.
  out->set_text(SanitizeUtf8(delta.text));
  for (const TokenOutput& t : delta.tokens) {
    out->add_token_ids(t.token);
    if (!with_logprobs) continue;
    pb::TokenLogprobs* lp = out->add_logprobs();
    lp->set_token_id(t.token);
    lp->set_token(tokenizer.TokenBytes(t.token));
    lp->set_logprob(t.logprob);
    for (const TokenLogprob& alt : t.top_logprobs) {
      pb::TopLogprob* top = lp->add_top_logprobs();
      top->set_token_id(alt.token);
      top->set_token(tokenizer.TokenBytes(alt.token));
      top->set_logprob(alt.logprob);
    }
  }
  out->set_finish_reason(ToProto(delta.finish));
  out->set_stop_reason(SanitizeUtf8(delta.stop_reason));
}

}  // namespace xq
