// How a model writes tool calls, and the grammar that makes it write them: Hermes
// (<tool_call>{"name": ..., "arguments": ...}</tool_call>, Qwen 2.5 and Hermes templates), Llama 3
// JSON ({"name": ..., "parameters": ...}) and Mistral ([TOOL_CALLS][{...}]). The format comes
// from --tool-call-parser or from what the chat template writes when it is given a tool.
#pragma once

#include <optional>
#include <string>

#include "server/core/prompt_builder.h"
#include "server/core/tool_request.h"

namespace xq {

enum class ToolCallFormat { kHermes, kLlama3Json, kMistral };

// "hermes", "llama3_json", "mistral" (vLLM's names); nullopt for anything else.
std::optional<ToolCallFormat> ToolCallFormatByName(const std::string& name);
const char* ToolCallFormatName(ToolCallFormat format);

// Renders a conversation with one probe tool: a template that does not write the tool into the
// prompt cannot offer tools to the model (nullopt). Otherwise `override_name` if given (throws
// xq::Error when unknown), else the format the rendered prompt describes.
std::optional<ToolCallFormat> DetectToolCallFormat(const PromptBuilder& prompts,
                                                   const std::string& override_name);

// The XGrammar structural tag that holds the model to its tool choice: with kRequired or kNamed
// nothing but calls (one, unless parallel); with kAuto free text in which every call that starts
// must be well formed, its arguments matching the function's schema. nullopt when the format
// cannot be enforced by text (Mistral's marker is a control token).
std::optional<std::string> ToolCallStructuralTag(ToolCallFormat format, const ToolRequest& tools);

}  // namespace xq
