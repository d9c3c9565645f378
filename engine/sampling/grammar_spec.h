// GrammarSpec: what a request's output must match (structured outputs), as the frontend
// received it. engine/grammar compiles it; the sampler enforces the compiled form.
#pragma once

#include <string>
#include <vector>

namespace xq {

enum class GrammarKind {
  kJsonObject,     // any JSON object (response_format json_object)
  kJsonSchema,     // source: a JSON Schema (response_format json_schema, guided_json)
  kRegex,          // source: a regular expression (guided_regex)
  kChoice,         // choices: exactly one of these strings (guided_choice)
  kEbnf,           // source: an EBNF grammar with a `root` rule (guided_grammar)
  kStructuralTag,  // source: an XGrammar structural tag in JSON (tool calls)
};

struct GrammarSpec {
  GrammarKind kind = GrammarKind::kJsonObject;
  std::string source;
  std::vector<std::string> choices;
  // The request field it came from, named in errors (e.g. "response_format.json_schema.schema").
  std::string field;
};

}  // namespace xq
