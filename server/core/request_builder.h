// Turning a parsed OpenAI request into the engine's GenerateRequest: tokenizes the prompt and
// fits max_tokens to the context (400 context_length_exceeded when it cannot fit).
#pragma once

#include <cstdint>
#include <string>

#include "engine/request.h"
#include "server/core/openai_request.h"
#include "server/core/prompt_builder.h"

namespace xq {

GenerateRequest BuildGenerateRequest(const OpenAiRequest& request, const PromptBuilder& prompts,
                                     int64_t max_model_len, std::string id);

// The prompt as text, for completions' echo.
std::string PromptTextForEcho(const OpenAiRequest& request, const PromptBuilder& prompts);

}  // namespace xq
