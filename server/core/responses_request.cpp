#include "server/core/responses_request.h"

#include "server/core/api_error.h"
#include "server/core/structured_output.h"

namespace xq {
namespace {

// Sampling fields and extensions that mean the same in both APIs.
constexpr const char* kSameFields[] = {
    "model",      "stream",        "temperature",        "top_p",     "seed",
    "top_k",      "min_p",         "repetition_penalty", "ignore_eos", "min_tokens",
    "stop",       "logit_bias",    "presence_penalty",   "frequency_penalty",
    "priority",   "user",          "parallel_tool_calls"};

std::string PartsText(const nlohmann::json& content, const std::string& field) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw InvalidRequestError(field, "must be a string or a list of parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string part_field = field + "[" + std::to_string(i) + "]";
    const nlohmann::json& part = content[i];
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type != "input_text" && type != "output_text") {
      throw InvalidRequestError(part_field + ".type",
                                "only input_text and output_text parts are supported");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      throw InvalidRequestError(part_field + ".text", "must be a string");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

nlohmann::json Messages(const nlohmann::json& body) {
  nlohmann::json messages = nlohmann::json::array();
  if (auto it = body.find("instructions"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) throw InvalidRequestError("instructions", "must be a string");
    messages.push_back({{"role", "system"}, {"content", *it}});
  }
  auto input = body.find("input");
  if (input == body.end() || input->is_null()) throw InvalidRequestError("input", "is required");
  if (input->is_string()) {
    messages.push_back({{"role", "user"}, {"content", *input}});
    return messages;
  }
  if (!input->is_array() || input->empty()) {
    throw InvalidRequestError("input", "must be a string or a non-empty list of items");
  }
  for (size_t i = 0; i < input->size(); ++i) {
    const std::string field = "input[" + std::to_string(i) + "]";
    const nlohmann::json& item = (*input)[i];
    if (!item.is_object()) throw InvalidRequestError(field, "must be an object");
    const std::string type = item.value("type", item.contains("role") ? "message" : "");
    if (type == "message") {
      const nlohmann::json role = item.value("role", nlohmann::json());
      if (!role.is_string()) throw InvalidRequestError(field + ".role", "must be a string");
      messages.push_back(
          {{"role", role},
           {"content", PartsText(item.value("content", nlohmann::json()), field + ".content")}});
    } else if (type == "function_call") {
      for (const char* key : {"call_id", "name", "arguments"}) {
        if (!item.contains(key) || !item[key].is_string()) {
          throw InvalidRequestError(field + "." + key, "must be a string");
        }
      }
      const nlohmann::json call = {
          {"id", item["call_id"]},
          {"type", "function"},
          {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}};
      // Consecutive calls belong to one assistant turn.
      if (!messages.empty() && messages.back()["role"] == "assistant" &&
          messages.back().contains("tool_calls")) {
        messages.back()["tool_calls"].push_back(call);
      } else {
        messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {call}}});
      }
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string()) {
        throw InvalidRequestError(field + ".call_id", "must be a string");
      }
      const nlohmann::json output = item.value("output", nlohmann::json());
      messages.push_back({{"role", "tool"},
                          {"tool_call_id", item["call_id"]},
                          {"content", PartsText(output, field + ".output")}});
    } else {
      throw InvalidRequestError(field + ".type",
                                "must be message, function_call or function_call_output");
    }
  }
  return messages;
}

nlohmann::json Tools(const nlohmann::json& tools) {
  if (!tools.is_array()) throw InvalidRequestError("tools", "must be a list of tools");
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const nlohmann::json& t = tools[i];
    if (!t.is_object() || t.value("type", "") != "function") {
      throw InvalidRequestError("tools[" + std::to_string(i) + "].type",
                                "only function tools are supported");
    }
    nlohmann::json fn = {{"name", t.value("name", nlohmann::json())}};
    for (const char* key : {"description", "parameters", "strict"}) {
      if (t.contains(key)) fn[key] = t[key];
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

nlohmann::json ChatToolChoice(const nlohmann::json& choice) {
  if (!choice.is_object()) return choice;
  if (choice.value("type", "") != "function" || !choice.contains("name")) {
    throw InvalidRequestError("tool_choice",
                              "must be none, auto, required or {\"type\": \"function\", \"name\": ...}");
  }
  return {{"type", "function"}, {"function", {{"name", choice["name"]}}}};
}

nlohmann::json ResponseFormat(const nlohmann::json& text) {
  if (!text.is_object()) throw InvalidRequestError("text", "must be an object");
  auto format = text.find("format");
  if (format == text.end() || format->is_null()) return nullptr;
  if (!format->is_object()) throw InvalidRequestError("text.format", "must be an object");
  if (format->value("type", "") != "json_schema") return *format;  // text, json_object
  nlohmann::json spec = {{"name", format->value("name", "response")}};
  if (format->contains("schema")) spec["schema"] = (*format)["schema"];
  if (format->contains("strict")) spec["strict"] = (*format)["strict"];
  return {{"type", "json_schema"}, {"json_schema", std::move(spec)}};
}

}  // namespace

ResponsesRequest ParseResponsesRequest(const nlohmann::json& body, std::string_view raw_body,
                                       int64_t vocab_size) {
  if (auto it = body.find("previous_response_id"); it != body.end() && !it->is_null()) {
    throw InvalidRequestError("previous_response_id",
                              "this server keeps no responses (stateless, as with store: false); "
                              "send the whole conversation in input");
  }
  nlohmann::json chat = {{"messages", Messages(body)}};
  for (const char* key : kSameFields) {
    if (auto it = body.find(key); it != body.end()) chat[key] = *it;
  }
  if (auto it = body.find("max_output_tokens"); it != body.end()) chat["max_tokens"] = *it;
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) chat["tools"] = Tools(*it);
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    chat["tool_choice"] = ChatToolChoice(*it);
  }
  bool schema_from_text = false;
  if (auto it = body.find("text"); it != body.end() && !it->is_null()) {
    nlohmann::json format = ResponseFormat(*it);
    schema_from_text = format.is_object() && format.value("type", "") == "json_schema";
    if (!format.is_null()) chat["response_format"] = std::move(format);
  }

  ResponsesRequest r;
  r.chat = ParseChatRequest(chat, vocab_size);
  if (auto& grammar = r.chat.params.grammar; grammar && schema_from_text) {
    grammar->field = "text.format.schema";
    KeepSchemaKeyOrder(*grammar, raw_body);
  }
  for (const char* key : {"instructions", "tools", "tool_choice", "text", "metadata",
                          "max_output_tokens", "temperature", "top_p", "parallel_tool_calls",
                          "user"}) {
    if (auto it = body.find(key); it != body.end()) r.echo[key] = *it;
  }
  return r;
}

}  // namespace xq
