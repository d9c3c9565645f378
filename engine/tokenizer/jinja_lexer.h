// jinja::Lex: splits a template into text and tag tokens, applying jinja2's whitespace control
// with the settings transformers uses for chat templates (trim_blocks, lstrip_blocks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xq::jinja {

enum class TokenKind {
  kText,
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof,
};

struct Token {
  TokenKind kind;
  std::string text;  // text, name, operator, or the unescaped string literal
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

// Normalizes newlines and drops one trailing newline (jinja2's keep_trailing_newline=False).
std::string NormalizeSource(const std::string& source);

// Throws xq::Error("line N: ...") on an unterminated tag, comment or string.
std::vector<Token> Lex(const std::string& normalized_source);

}  // namespace xq::jinja
