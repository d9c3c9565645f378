// CheckJsonSchemaSupported: keywords XGrammar would silently drop are refused, wherever they sit,
// with the keyword and its location named; everything XGrammar enforces passes.
#include "engine/grammar/json_schema_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/common/error.h"

namespace xq {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using nlohmann::json;

std::string RefusalOf(const json& schema) {
  try {
    CheckJsonSchemaSupported(schema, "response_format.json_schema.schema");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonSchemaSupport, EnforceableSchemasPass) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": "^[A-Z]"},
      "age": {"type": "integer", "minimum": 0, "maximum": 150, "multipleOf": 2},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 3},
      "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/pet"}]}
    },
    "required": ["name", "age"],
    "additionalProperties": false,
    "$defs": {"pet": {"type": "object", "properties": {"kind": {"const": "cat"}}}}
  })");
  EXPECT_EQ(RefusalOf(schema), "");
  EXPECT_EQ(RefusalOf(json(true)), "");
}

TEST(JsonSchemaSupport, RefusesWhatWouldBeIgnoredAndSaysWhere) {
  EXPECT_THAT(RefusalOf(json::parse(R"({"type": "array", "uniqueItems": true})")),
              AllOf(HasSubstr("response_format.json_schema.schema: "),
                    HasSubstr("'uniqueItems'"), HasSubstr("(at /)")));
  EXPECT_THAT(RefusalOf(json::parse(
                  R"({"properties": {"tags": {"type": "array", "contains": {"const": 1}}}})")),
              AllOf(HasSubstr("'contains'"), HasSubstr("/properties/tags")));
  EXPECT_THAT(RefusalOf(json::parse(R"({"anyOf": [{"type": "string"}, {"not": {"const": ""}}]})")),
              AllOf(HasSubstr("'not'"), HasSubstr("/anyOf/1")));
  EXPECT_THAT(RefusalOf(json::parse(R"({"$defs": {"x": {"if": {}, "then": {}}}})")),
              AllOf(HasSubstr("'if'"), HasSubstr("/$defs/x")));
  EXPECT_THAT(RefusalOf(json::parse(R"({"items": {"type": "number", "multipleOf": 0.5}})")),
              AllOf(HasSubstr("'multipleOf' on a number"), HasSubstr("/items")));
  EXPECT_THAT(RefusalOf(json::parse(R"({"prefixItems": [{}, {"maxContains": 2}]})")),
              AllOf(HasSubstr("'maxContains'"), HasSubstr("/prefixItems/1")));
}

}  // namespace
}  // namespace xq
