// Applies a chat request's tools to what the engine runs: refuses tools the model's template
// cannot offer (400 naming tools, unless tool_choice is none), checks each function's schema
// and turns tool_choice into a grammar (nothing but calls for required or a named function;
// well-formed calls within free text for auto).
#pragma once

#include <optional>

#include "server/core/openai_request.h"
#include "server/core/tool_call_format.h"

namespace xq {

void ApplyToolChoice(OpenAiRequest& request, std::optional<ToolCallFormat> format);

}  // namespace xq
