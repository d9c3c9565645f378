// jinja::Parse: builds the syntax tree of a chat template from its tokens.
#pragma once

#include <vector>

#include "engine/tokenizer/jinja_ast.h"
#include "engine/tokenizer/jinja_lexer.h"

namespace xq::jinja {

// Throws xq::Error("line N: ...") on a syntax error or an unsupported tag.
Body Parse(std::vector<Token> tokens);

}  // namespace xq::jinja
