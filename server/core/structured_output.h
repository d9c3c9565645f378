// The request fields that ask for structured output, as one GrammarSpec: OpenAI's
// response_format (json_object, json_schema) and vLLM's guided_json / guided_regex /
// guided_choice / guided_grammar extensions. A wrong shape is a 400 naming the field; asking for
// two at once is a 400 too (never one silently dropped).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "engine/sampling/grammar_spec.h"

namespace xq {

std::optional<GrammarSpec> ParseStructuredOutput(const nlohmann::json& body);

// A JSON Schema's property order is the order the model writes the keys in, but nlohmann::json
// sorts keys. Re-reads the schema at spec.field (a dotted path) from the raw body in its order.
void KeepSchemaKeyOrder(GrammarSpec& spec, std::string_view raw_body);

}  // namespace xq
