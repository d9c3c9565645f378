#include "engine/grammar/json_schema_support.h"

#include <array>
#include <string_view>

#include "engine/common/error.h"

namespace xq {
namespace {

// What XGrammar 0.2.9 skips with a warning (json_schema_converter.cc, WarnUnsupportedKeywords).
constexpr std::array<std::string_view, 10> kUnsupported = {
    "not",      "if",          "then",        "else",        "dependentRequired",
    "dependentSchemas", "uniqueItems", "contains", "minContains", "maxContains"};

// Keywords whose value is one subschema, a list of them, or a map of them.
constexpr std::array<std::string_view, 5> kSubschema = {
    "items", "additionalProperties", "propertyNames", "unevaluatedProperties", "additionalItems"};
constexpr std::array<std::string_view, 4> kSubschemaList = {"anyOf", "oneOf", "allOf",
                                                            "prefixItems"};
constexpr std::array<std::string_view, 5> kSubschemaMap = {"properties", "$defs", "definitions",
                                                           "patternProperties",
                                                           "dependentSchemas"};

template <size_t N>
bool In(const std::array<std::string_view, N>& list, std::string_view key) {
  for (std::string_view k : list) {
    if (k == key) return true;
  }
  return false;
}

bool IsIntegerType(const nlohmann::json& schema) {
  auto it = schema.find("type");
  return it != schema.end() && it->is_string() && *it == "integer";
}

void Check(const nlohmann::json& schema, const std::string& path, const std::string& field) {
  if (!schema.is_object()) return;  // true / false schemas, or what XGrammar rejects itself
  const auto refuse = [&](const std::string& what) {
    throw Error(field + ": JSON Schema " + what + " (at " + (path.empty() ? "/" : path) +
                ") is not supported by the grammar engine");
  };
  for (const auto& [key, value] : schema.items()) {
    if (In(kUnsupported, key)) refuse("keyword '" + key + "'");
    // XGrammar enforces multipleOf for integers only; for other numbers it drops it.
    if (key == "multipleOf" && !IsIntegerType(schema)) refuse("keyword 'multipleOf' on a number");
    const std::string here = path + "/" + key;
    if (In(kSubschema, key)) {
      if (value.is_array()) {
        for (size_t i = 0; i < value.size(); ++i) {
          Check(value[i], here + "/" + std::to_string(i), field);
        }
      } else {
        Check(value, here, field);
      }
    } else if (In(kSubschemaList, key) && value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        Check(value[i], here + "/" + std::to_string(i), field);
      }
    } else if (In(kSubschemaMap, key) && value.is_object()) {
      for (const auto& [name, sub] : value.items()) Check(sub, here + "/" + name, field);
    }
  }
}

}  // namespace

void CheckJsonSchemaSupported(const nlohmann::json& schema, const std::string& field) {
  Check(schema, "", field);
}

}  // namespace xq
