// Which JSON Schema keywords the grammar engine cannot enforce. XGrammar logs a warning and
// ignores them, which would hand the client unconstrained output it believes was checked; we
// refuse the request instead, naming the keyword and where it is.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace xq {

// Throws xq::Error "<field>: JSON Schema keyword 'uniqueItems' (at /properties/tags) is not
// supported" for the first unenforceable keyword found anywhere in the schema.
void CheckJsonSchemaSupported(const nlohmann::json& schema, const std::string& field);

}  // namespace xq
