// jinja::Render: interprets a parsed chat template against a set of variables.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/tokenizer/jinja_ast.h"
#include "engine/tokenizer/jinja_value.h"

namespace xq::jinja {

using Variables = std::vector<std::pair<std::string, Value>>;

// `variables` hold the render arguments and globals (raise_exception, strftime_now, ...);
// range, namespace and dict are always there. Throws xq::Error("line N: ...") on a runtime
// error, which includes the template calling raise_exception.
std::string Render(const Body& body, const Variables& variables);

}  // namespace xq::jinja
