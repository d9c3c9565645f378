#include "server/core/request_builder.h"

#include <algorithm>

#include "server/core/api_error.h"

namespace xq {
namespace {

// The bytes of text the prompt holds at least (templates only add to them).
size_t PromptTextBytes(const OpenAiRequest& request) {
  if (request.kind == ApiKind::kChat) {
    size_t bytes = 0;
    for (const ChatMessage& m : request.messages) bytes += m.content.size();
    return bytes;
  }
  return request.prompt_ids ? 0 : request.prompt_text.size() + request.suffix.size();
}

std::string ContextExceeded(int64_t max_model_len, const std::string& prompt_tokens) {
  return "this model's maximum context length is " + std::to_string(max_model_len) +
         " tokens, but the prompt has " + prompt_tokens + " tokens";
}

}  // namespace

GenerateRequest BuildGenerateRequest(const OpenAiRequest& request, const PromptBuilder& prompts,
                                     int64_t max_model_len, std::string id) {
  GenerateRequest out;
  out.id = std::move(id);
  out.params = request.params;
  out.priority = request.priority;
  const char* prompt_field = request.kind == ApiKind::kChat ? "messages" : "prompt";
  // A prompt certain not to fit is refused before tokenizing (megabytes take seconds).
  if (const int64_t at_least = prompts.MinTokensFor(PromptTextBytes(request));
      at_least >= max_model_len) {
    throw InvalidRequestError(prompt_field,
                              ContextExceeded(max_model_len, "at least " + std::to_string(at_least)),
                              "context_length_exceeded");
  }
  if (request.kind == ApiKind::kChat) {
    out.prompt = prompts.Chat(request.messages, request.render);
  } else if (!request.suffix.empty()) {
    out.prompt = prompts.FillInMiddle(request.prompt_text, request.suffix);
  } else if (request.prompt_ids) {
    out.prompt = *request.prompt_ids;
  } else {
    out.prompt = prompts.Text(request.prompt_text);
  }
  if (out.prompt.empty()) throw InvalidRequestError(prompt_field, "the prompt has no tokens");

  const int64_t prompt_len = static_cast<int64_t>(out.prompt.size());
  if (prompt_len >= max_model_len) {
    throw InvalidRequestError(prompt_field,
                              ContextExceeded(max_model_len, std::to_string(prompt_len)),
                              "context_length_exceeded");
  }
  const int64_t room = max_model_len - prompt_len;
  if (request.max_tokens_given && out.params.max_tokens > room) {
    throw InvalidRequestError(
        request.max_tokens_field,
        "this model's maximum context length is " + std::to_string(max_model_len) +
            " tokens, but " + std::to_string(prompt_len) + " prompt tokens plus " +
            std::to_string(out.params.max_tokens) + " completion tokens were requested",
        "context_length_exceeded");
  }
  out.params.max_tokens = static_cast<int32_t>(std::min<int64_t>(out.params.max_tokens, room));
  out.params.min_tokens = std::min(out.params.min_tokens, out.params.max_tokens);
  return out;
}

std::string PromptTextForEcho(const OpenAiRequest& request, const PromptBuilder& prompts) {
  if (request.kind == ApiKind::kChat) return "";
  if (request.prompt_ids) return prompts.tokenizer().Decode(*request.prompt_ids, true);
  return request.prompt_text;
}

}  // namespace xq
