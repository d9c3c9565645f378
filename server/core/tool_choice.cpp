#include "server/core/tool_choice.h"

#include "engine/common/error.h"
#include "engine/grammar/json_schema_support.h"
#include "server/core/api_error.h"

namespace xq {

void ApplyToolChoice(OpenAiRequest& request, std::optional<ToolCallFormat> format) {
  const ToolRequest& tools = request.tools;
  if (tools.tools.is_null()) return;
  request.render.tools = tools.tools;
  if (!tools.calls_allowed()) return;
  if (!format) {
    throw InvalidRequestError("tools",
                              "this model's chat template does not support tools (serve it "
                              "with a --chat-template that does, or send tool_choice \"none\")");
  }
  for (size_t i = 0; i < tools.tools.size(); ++i) {
    const std::string field = "tools[" + std::to_string(i) + "].function.parameters";
    try {
      CheckJsonSchemaSupported(tools.tools[i]["function"].value("parameters", nlohmann::json()),
                               field);
    } catch (const Error& e) {
      throw InvalidRequestError(field, std::string(e.what()).substr(field.size() + 2));
    }
  }
  const bool forced = tools.choice != ToolChoice::kAuto;
  std::optional<std::string> tag = ToolCallStructuralTag(*format, tools);
  if (!tag) {
    if (forced) {
      throw InvalidRequestError("tool_choice", std::string("cannot be enforced for the ") +
                                                   ToolCallFormatName(*format) +
                                                   " tool-call format; use \"auto\"");
    }
    return;
  }
  if (request.params.grammar) {
    // With auto, response_format shapes the answer and calls are free; a forced call and a
    // response format contradict each other.
    if (forced) throw InvalidRequestError("tool_choice", "cannot be combined with response_format");
    return;
  }
  request.params.grammar = GrammarSpec{GrammarKind::kStructuralTag, *tag, {}, "tools"};
}

}  // namespace xq
