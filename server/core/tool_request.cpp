#include "server/core/tool_request.h"

#include <set>

#include "server/core/api_error.h"
#include "server/core/json_fields.h"

namespace xq {
namespace {

// OpenAI's rule for function names.
bool ValidFunctionName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

std::set<std::string> CheckTools(const nlohmann::json& tools) {
  if (!tools.is_array()) throw InvalidRequestError("tools", "must be a list of tools");
  std::set<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string field = "tools[" + std::to_string(i) + "]";
    const nlohmann::json& tool = tools[i];
    if (!tool.is_object()) throw InvalidRequestError(field, "must be an object");
    if (GetString(tool, "type").value_or("") != "function") {
      throw InvalidRequestError(field + ".type", "must be \"function\"");
    }
    auto fn = tool.find("function");
    if (fn == tool.end() || !fn->is_object()) {
      throw InvalidRequestError(field + ".function", "must be an object");
    }
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || !ValidFunctionName(name->get<std::string>())) {
      throw InvalidRequestError(field + ".function.name",
                                "must be 1 to 64 letters, digits, underscores or dashes");
    }
    if (!names.insert(name->get<std::string>()).second) {
      throw InvalidRequestError(field + ".function.name",
                                "\"" + name->get<std::string>() + "\" is listed twice");
    }
    auto params = fn->find("parameters");
    if (params != fn->end() && !params->is_null() && !params->is_object()) {
      throw InvalidRequestError(field + ".function.parameters", "must be a JSON Schema object");
    }
  }
  return names;
}

}  // namespace

ToolRequest ParseToolRequest(const nlohmann::json& body) {
  ToolRequest r;
  std::set<std::string> names;
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    names = CheckTools(*it);
    if (!names.empty()) r.tools = *it;
  }
  r.parallel = GetBool(body, "parallel_tool_calls").value_or(true);
  auto choice = body.find("tool_choice");
  if (choice == body.end() || choice->is_null()) return r;
  if (choice->is_string()) {
    const std::string mode = choice->get<std::string>();
    if (mode == "none") {
      r.choice = ToolChoice::kNone;
    } else if (mode == "auto") {
      r.choice = ToolChoice::kAuto;
    } else if (mode == "required") {
      r.choice = ToolChoice::kRequired;
    } else {
      throw InvalidRequestError("tool_choice", "must be none, auto, required or a function");
    }
  } else if (choice->is_object()) {
    const auto fn = choice->find("function");
    const nlohmann::json name =
        fn != choice->end() && fn->is_object() ? fn->value("name", nlohmann::json()) : nullptr;
    if (GetString(*choice, "type").value_or("") != "function" || !name.is_string()) {
      throw InvalidRequestError("tool_choice",
                                "must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    r.choice = ToolChoice::kNamed;
    r.named = name.get<std::string>();
    if (!names.count(r.named)) {
      throw InvalidRequestError("tool_choice", "names \"" + r.named + "\", which is not in tools");
    }
  } else {
    throw InvalidRequestError("tool_choice", "must be a string or an object");
  }
  if (r.choice == ToolChoice::kRequired && names.empty()) {
    throw InvalidRequestError("tool_choice", "\"required\" needs at least one tool in tools");
  }
  return r;
}

}  // namespace xq
