// jinja::ExprParser: the token cursor and expression grammar of the template parser. It follows
// jinja2's parser so precedence matches: filters and tests bind tighter than any binary
// operator, and `~` binds between `+` and `*`.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_ast.h"
#include "engine/tokenizer/jinja_lexer.h"

namespace xq::jinja {

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

 protected:
  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t ahead = 1) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  void Next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool IsOp(const char* op) const { return Cur().kind == TokenKind::kOp && Cur().text == op; }
  bool IsName(const char* name) const {
    return Cur().kind == TokenKind::kName && Cur().text == name;
  }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kText:
        return "template text";
      case TokenKind::kVarBegin:
        return "'{{'";
      case TokenKind::kVarEnd:
        return "'}}'";
      case TokenKind::kBlockBegin:
        return "'{%'";
      case TokenKind::kBlockEnd:
        return "'%}'";
      case TokenKind::kEof:
        return "end of template";
      case TokenKind::kString:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }

  [[noreturn]] void Fail(const std::string& what) const {
    throw Error("line " + std::to_string(Cur().line) + ": " + what);
  }
  [[noreturn]] void Unexpected(const std::string& expected) const {
    Fail("expected " + expected + ", got " + Describe(Cur()));
  }

  void ExpectOp(const char* op) {
    if (!SkipOp(op)) Unexpected(std::string("'") + op + "'");
  }
  std::string ExpectName() {
    if (Cur().kind != TokenKind::kName) Unexpected("a name");
    std::string name = Cur().text;
    Next();
    return name;
  }
  void ExpectBlockEnd() {
    if (Cur().kind != TokenKind::kBlockEnd) Unexpected("'%}'");
    Next();
  }

  ExprPtr Make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  ExprPtr ParseTupleExpr();
  ExprPtr ParseExpr();
  ExprPtr ParseOr();
  ExprPtr ParseAnd();
  ExprPtr ParseNot();
  ExprPtr ParseCompare();
  ExprPtr Binary(ExprKind kind, const std::string& op, ExprPtr a, ExprPtr b);
  ExprPtr ParseMath1();
  ExprPtr ParseConcat();
  ExprPtr ParseMath2();
  ExprPtr ParsePow();
  ExprPtr ParseUnary(bool with_filter);
  ExprPtr ParsePostfix(ExprPtr e);
  ExprPtr ParseSubscript(ExprPtr target);
  void ParseArgs(Expr& call);
  ExprPtr ParseCall(ExprPtr callee);
  ExprPtr ParseFilter(ExprPtr operand);
  ExprPtr ParseTest(ExprPtr operand);
  ExprPtr ParsePrimary();

  std::vector<Token> toks_;
  size_t pos_ = 0;
};

}  // namespace xq::jinja
