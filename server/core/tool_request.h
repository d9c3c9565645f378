// ToolRequest: a chat request's `tools`, `tool_choice` and `parallel_tool_calls`, checked: every
// tool a function with a valid name, a named choice one of them. 400s name the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace xq {

enum class ToolChoice {
  kNone,      // the model may not call tools (the tools still reach the template)
  kAuto,      // the model decides
  kRequired,  // at least one call, and nothing but calls
  kNamed,     // exactly this function
};

struct ToolRequest {
  nlohmann::json tools = nullptr;  // as sent: [{"type": "function", "function": {...}}]; null: none
  ToolChoice choice = ToolChoice::kAuto;
  std::string named;     // with kNamed
  bool parallel = true;  // parallel_tool_calls: more than one call allowed
  bool calls_allowed() const { return !tools.is_null() && choice != ToolChoice::kNone; }
};

ToolRequest ParseToolRequest(const nlohmann::json& body);

}  // namespace xq
