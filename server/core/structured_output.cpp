#include "server/core/structured_output.h"

#include <string>
#include <vector>

#include "server/core/api_error.h"

namespace xq {
namespace {

// A JSON Schema given as an object (or, as vLLM accepts for guided_json, as a JSON string).
std::string SchemaSource(const nlohmann::json& value, const std::string& field) {
  if (value.is_object() || value.is_boolean()) return value.dump();
  if (value.is_string()) {
    const nlohmann::json parsed = nlohmann::json::parse(value.get<std::string>(), nullptr, false);
    if (parsed.is_object() || parsed.is_boolean()) return parsed.dump();
  }
  throw InvalidRequestError(field, "must be a JSON Schema object");
}

std::optional<GrammarSpec> FromResponseFormat(const nlohmann::json& format) {
  const std::string field = "response_format";
  if (!format.is_object()) throw InvalidRequestError(field, "must be an object");
  auto type = format.find("type");
  if (type == format.end() || !type->is_string()) {
    throw InvalidRequestError(field + ".type", "must be one of text, json_object, json_schema");
  }
  if (*type == "text") return std::nullopt;
  if (*type == "json_object") return GrammarSpec{GrammarKind::kJsonObject, "", {}, field};
  if (*type != "json_schema") {
    throw InvalidRequestError(field + ".type", "must be one of text, json_object, json_schema, got \"" +
                                                   type->get<std::string>() + "\"");
  }
  auto spec = format.find("json_schema");
  if (spec == format.end() || !spec->is_object()) {
    throw InvalidRequestError(field + ".json_schema", "must be an object with a schema");
  }
  auto name = spec->find("name");
  if (name != spec->end() && !name->is_string()) {
    throw InvalidRequestError(field + ".json_schema.name", "must be a string");
  }
  auto schema = spec->find("schema");
  if (schema == spec->end() || schema->is_null()) {  // OpenAI: no schema means any JSON object
    return GrammarSpec{GrammarKind::kJsonObject, "", {}, field + ".json_schema"};
  }
  const std::string schema_field = field + ".json_schema.schema";
  return GrammarSpec{GrammarKind::kJsonSchema, SchemaSource(*schema, schema_field), {},
                     schema_field};
}

GrammarSpec FromGuided(const std::string& key, const nlohmann::json& value) {
  if (key == "guided_json") {
    return {GrammarKind::kJsonSchema, SchemaSource(value, key), {}, key};
  }
  if (key == "guided_choice") {
    if (!value.is_array() || value.empty()) {
      throw InvalidRequestError(key, "must be a non-empty list of strings");
    }
    std::vector<std::string> choices;
    for (const nlohmann::json& c : value) {
      if (!c.is_string()) throw InvalidRequestError(key, "must be a non-empty list of strings");
      choices.push_back(c.get<std::string>());
    }
    return {GrammarKind::kChoice, "", std::move(choices), key};
  }
  if (!value.is_string() || value.get<std::string>().empty()) {
    throw InvalidRequestError(key, "must be a non-empty string");
  }
  const GrammarKind kind = key == "guided_regex" ? GrammarKind::kRegex : GrammarKind::kEbnf;
  return {kind, value.get<std::string>(), {}, key};
}

}  // namespace

std::optional<GrammarSpec> ParseStructuredOutput(const nlohmann::json& body) {
  std::optional<GrammarSpec> spec;
  std::string from;
  const auto take = [&](std::optional<GrammarSpec> next, const std::string& key) {
    if (!next) return;
    if (spec) {
      throw InvalidRequestError(key, "cannot be combined with " + from +
                                         ": ask for one structured output at a time");
    }
    spec = std::move(next);
    from = key;
  };
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    take(FromResponseFormat(*it), "response_format");
  }
  for (const char* key : {"guided_json", "guided_regex", "guided_choice", "guided_grammar"}) {
    if (auto it = body.find(key); it != body.end() && !it->is_null()) take(FromGuided(key, *it), key);
  }
  return spec;
}

void KeepSchemaKeyOrder(GrammarSpec& spec, std::string_view raw_body) {
  if (spec.kind != GrammarKind::kJsonSchema) return;
  const auto body = nlohmann::ordered_json::parse(raw_body, nullptr, false);
  const nlohmann::ordered_json* node = &body;
  for (size_t begin = 0; begin <= spec.field.size();) {
    size_t end = spec.field.find('.', begin);
    if (end == std::string::npos) end = spec.field.size();
    if (!node->is_object()) return;
    auto it = node->find(spec.field.substr(begin, end - begin));
    if (it == node->end()) return;
    node = &*it;
    begin = end + 1;
  }
  if (node->is_object()) spec.source = node->dump();
  if (node->is_string()) spec.source = node->get<std::string>();  // guided_json as a string
}

}  // namespace xq
