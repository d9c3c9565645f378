// jinja2's builtin filters and tests (plus transformers' tojson) that chat templates use.
#pragma once

#include <string>

#include "engine/tokenizer/jinja_value.h"

namespace xq::jinja {

// Throws xq::Error for an unknown filter or bad arguments.
Value ApplyFilter(const std::string& name, const Value& input, const Args& args);
bool ApplyTest(const std::string& name, const Value& input, const Args& args);

}  // namespace xq::jinja
