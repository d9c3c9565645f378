#include "engine/tokenizer/jinja_parser.h"

#include <initializer_list>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_expr_parser.h"

namespace xq::jinja {
namespace {

// The statement grammar; expressions come from ExprParser.
class Parser : public ExprParser {
 public:
  using ExprParser::ExprParser;

  Body ParseTemplate() { return ParseBody({}); }

 private:
  Body ParseBody(std::initializer_list<const char*> end_tags) {
    Body body;
    while (true) {
      const Token& t = Cur();
      if (t.kind == TokenKind::kEof) {
        if (end_tags.size() == 0) return body;
        Fail(std::string("unexpected end of template, expected '") + *(end_tags.end() - 1) + "'");
      }
      if (t.kind == TokenKind::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        Next();
      } else if (t.kind == TokenKind::kVarBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = t.line;
        Next();
        s->expr = ParseTupleExpr();
        if (Cur().kind != TokenKind::kVarEnd) Unexpected("'}}'");
        Next();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kBlockBegin) {
        const Token& tag = Peek();
        if (tag.kind != TokenKind::kName) {
          Next();
          Unexpected("a tag name");
        }
        for (const char* end : end_tags) {
          if (tag.text == end) return body;
        }
        Next();
        body.push_back(ParseStatement());
      } else {
        Unexpected("template text or a tag");
      }
    }
  }

  // Consumes `{% name` of the tag that ended a body.
  std::string TakeEndTag() {
    Next();
    std::string name = Cur().text;
    Next();
    return name;
  }

  std::unique_ptr<Stmt> ParseStatement() {
    auto s = std::make_unique<Stmt>();
    s->line = Cur().line;
    std::string tag = ExpectName();
    if (tag == "if") {
      s->kind = StmtKind::kIf;
      ExprPtr cond = ParseTupleExpr();
      while (true) {
        ExpectBlockEnd();
        Body body = ParseBody({"elif", "else", "endif"});
        s->branches.emplace_back(std::move(cond), std::move(body));
        std::string end = TakeEndTag();
        if (end == "elif") {
          cond = ParseTupleExpr();
        } else if (end == "else") {
          ExpectBlockEnd();
          s->branches.emplace_back(nullptr, ParseBody({"endif"}));
          TakeEndTag();
          break;
        } else {
          break;
        }
      }
    } else if (tag == "for") {
      s->kind = StmtKind::kFor;
      SkipOp("(");
      do {
        s->targets.push_back(ExpectName());
      } while (SkipOp(","));
      SkipOp(")");
      if (!SkipName("in")) Unexpected("'in'");
      s->expr = ParseOr();
      if (IsOp(",")) {
        auto tuple = Make(ExprKind::kTuple, s->line);
        tuple->args.push_back(std::move(s->expr));
        while (SkipOp(",")) tuple->args.push_back(ParseOr());
        s->expr = std::move(tuple);
      }
      if (SkipName("if")) s->cond = ParseExpr();
      if (IsName("recursive")) Fail("recursive for loops are not supported");
      ExpectBlockEnd();
      s->body = ParseBody({"else", "endfor"});
      if (TakeEndTag() == "else") {
        ExpectBlockEnd();
        s->else_body = ParseBody({"endfor"});
        TakeEndTag();
      }
    } else if (tag == "set") {
      s->kind = StmtKind::kSet;
      s->targets.push_back(ExpectName());
      if (SkipOp(".")) {
        s->attr = ExpectName();
      } else {
        while (SkipOp(",")) s->targets.push_back(ExpectName());
      }
      if (SkipOp("=")) {
        s->expr = ParseTupleExpr();
      } else if (Cur().kind == TokenKind::kBlockEnd && s->targets.size() == 1 && s->attr.empty()) {
        s->kind = StmtKind::kSetBlock;
        ExpectBlockEnd();
        s->body = ParseBody({"endset"});
        TakeEndTag();
      } else {
        Unexpected("'='");
      }
    } else if (tag == "macro") {
      s->kind = StmtKind::kMacro;
      s->text = ExpectName();
      ExpectOp("(");
      while (!IsOp(")")) {
        std::string param = ExpectName();
        ExprPtr def = SkipOp("=") ? ParseExpr() : nullptr;
        s->params.emplace_back(param, std::move(def));
        if (!SkipOp(",")) break;
      }
      ExpectOp(")");
      ExpectBlockEnd();
      s->body = ParseBody({"endmacro"});
      TakeEndTag();
      if (Cur().kind == TokenKind::kName) Next();
    } else if (tag == "break" || tag == "continue") {
      s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    } else if (tag == "filter") {
      s->kind = StmtKind::kFilterBlock;
      s->expr = ParseFilter(nullptr);
      while (IsOp("|")) s->expr = ParseFilter(std::move(s->expr));
      ExpectBlockEnd();
      s->body = ParseBody({"endfilter"});
      TakeEndTag();
    } else if (tag == "generation") {
      s->kind = StmtKind::kScope;
      ExpectBlockEnd();
      s->body = ParseBody({"endgeneration"});
      TakeEndTag();
    } else {
      Fail("unknown or unsupported tag '" + tag + "'");
    }
    ExpectBlockEnd();
    return s;
  }
};

}  // namespace

Body Parse(std::vector<Token> tokens) { return Parser(std::move(tokens)).ParseTemplate(); }

}  // namespace xq::jinja
