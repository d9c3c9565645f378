#include "server/core/tool_call_format.h"

#include "engine/common/error.h"

namespace xq {
namespace {

constexpr const char* kProbeName = "xquant_probe_function";

struct TagShape {
  std::string begin_prefix;  // before the function's name
  std::string arguments_key;
  std::string end;
  std::string trigger;
  std::string separator;
};

TagShape ShapeOf(ToolCallFormat format) {
  if (format == ToolCallFormat::kLlama3Json) {
    return {"{\"name\": \"", "parameters", "}", "{\"name\": \"", "; "};
  }
  return {"<tool_call>\n{\"name\": \"", "arguments", "}\n</tool_call>", "<tool_call>", "\n"};
}

nlohmann::json TagFor(const TagShape& shape, const nlohmann::json& function) {
  const std::string name = function.at("name").get<std::string>();
  nlohmann::json schema = function.value("parameters", nlohmann::json());
  if (!schema.is_object()) schema = {{"type", "object"}};
  return {{"type", "tag"},
          {"begin", shape.begin_prefix + name + "\", \"" + shape.arguments_key + "\": "},
          {"content", {{"type", "json_schema"}, {"json_schema", schema}}},
          {"end", shape.end}};
}

}  // namespace

std::optional<ToolCallFormat> ToolCallFormatByName(const std::string& name) {
  if (name == "hermes") return ToolCallFormat::kHermes;
  if (name == "llama3_json") return ToolCallFormat::kLlama3Json;
  if (name == "mistral") return ToolCallFormat::kMistral;
  return std::nullopt;
}

const char* ToolCallFormatName(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kLlama3Json:
      return "llama3_json";
    case ToolCallFormat::kMistral:
      return "mistral";
  }
  return "?";
}

std::optional<ToolCallFormat> DetectToolCallFormat(const PromptBuilder& prompts,
                                                   const std::string& override_name) {
  ChatRender render;
  render.tools = nlohmann::json::array(
      {{{"type", "function"},
        {"function",
         {{"name", kProbeName},
          {"description", "probe"},
          {"parameters", {{"type", "object"}, {"properties", nlohmann::json::object()}}}}}}});
  std::string text;
  try {
    text = prompts.ChatText({TextMessage("user", "hello")}, render);
  } catch (const std::exception&) {
    return std::nullopt;  // a template that refuses tools
  }
  if (text.find(kProbeName) == std::string::npos) return std::nullopt;
  if (!override_name.empty()) {
    auto format = ToolCallFormatByName(override_name);
    if (!format) {
      throw Error("--tool-call-parser: unknown format \"" + override_name +
                  "\" (hermes, llama3_json, mistral)");
    }
    return format;
  }
  if (text.find("<tool_call>") != std::string::npos) return ToolCallFormat::kHermes;
  if (text.find("[AVAILABLE_TOOLS]") != std::string::npos ||
      text.find("[TOOL_CALLS]") != std::string::npos) {
    return ToolCallFormat::kMistral;
  }
  return ToolCallFormat::kLlama3Json;
}

std::optional<std::string> ToolCallStructuralTag(ToolCallFormat format, const ToolRequest& tools) {
  if (format == ToolCallFormat::kMistral || !tools.calls_allowed()) return std::nullopt;
  const TagShape shape = ShapeOf(format);
  nlohmann::json tags = nlohmann::json::array();
  for (const nlohmann::json& tool : tools.tools) {
    const nlohmann::json& fn = tool.at("function");
    if (tools.choice == ToolChoice::kNamed && fn.at("name") != tools.named) continue;
    tags.push_back(TagFor(shape, fn));
  }
  nlohmann::json body;
  if (tools.choice == ToolChoice::kAuto) {
    body = {{"type", "triggered_tags"},
            {"triggers", {shape.trigger}},
            {"tags", std::move(tags)},
            {"stop_after_first", !tools.parallel}};
  } else {
    body = {{"type", "tags_with_separator"},
            {"tags", std::move(tags)},
            {"separator", shape.separator},
            {"at_least_one", true},
            {"stop_after_first", !tools.parallel || tools.choice == ToolChoice::kNamed}};
  }
  return nlohmann::json({{"type", "structural_tag"}, {"format", std::move(body)}}).dump();
}

}  // namespace xq
