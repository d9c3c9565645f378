// OpenAiRequest: a parsed and type-checked /v1/chat/completions or /v1/completions body, before
// tokenization. Unknown fields are ignored; a wrong type or range is a 400 naming the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/sampling_params.h"
#include "engine/tokenizer/chat_template.h"
#include "server/core/prompt_builder.h"
#include "server/core/tool_request.h"

namespace xq {

enum class ApiKind { kChat, kCompletion };

struct OpenAiRequest {
  ApiKind kind = ApiKind::kChat;
  std::string model;                               // empty when the client named none
  std::vector<ChatMessage> messages;               // chat
  std::string prompt_text;                         // completions, a text prompt
  std::optional<std::vector<int32_t>> prompt_ids;  // completions, token ids given directly
  SamplingParams params;
  bool max_tokens_given = false;  // else: 16 for completions, the rest of the context for chat
  std::string max_tokens_field = "max_tokens";  // or max_completion_tokens, for errors
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: prepend the prompt to the text
  std::string suffix;          // completions: fill in between the prompt and this (FIM)
  int32_t prompt_logprobs = -1;  // vLLM's extension: the prompt's tokens scored, with N more
  ChatRender render;           // chat: add_generation_prompt, continue_final_message
  ToolRequest tools;           // chat: tools, tool_choice, parallel_tool_calls
  std::string user;
  int32_t priority = 0;  // extension (as vLLM): lower runs first; ties first come first served
  // Completions with a list of several prompts: each runs as its own request, and the choices of
  // prompt i are n*i .. n*i + n-1. Empty for a single prompt (prompt_text / prompt_ids).
  std::vector<std::string> batch_texts;
  std::vector<std::vector<int32_t>> batch_ids;
};

// One request per prompt of a batch (or the request itself when it has one prompt).
std::vector<OpenAiRequest> SplitPromptBatch(const OpenAiRequest& r);

OpenAiRequest ParseChatRequest(const nlohmann::json& body, int64_t vocab_size);
OpenAiRequest ParseCompletionRequest(const nlohmann::json& body, int64_t vocab_size);

// Runs SamplingParams::Validate and turns its xq::Error into a 400 naming the OpenAI field.
void ValidateSamplingParams(const SamplingParams& params, ApiKind kind, int64_t vocab_size);

}  // namespace xq
