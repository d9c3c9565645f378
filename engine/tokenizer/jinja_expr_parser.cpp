#include "engine/tokenizer/jinja_expr_parser.h"

#include "engine/common/error.h"

namespace xq::jinja {

// An expression, or a tuple when commas follow (as in `{% set a = 1, 2 %}`).
ExprPtr ExprParser::ParseTupleExpr() {
  ExprPtr first = ParseExpr();
  if (!IsOp(",")) return first;
  auto tuple = Make(ExprKind::kTuple, first->line);
  tuple->args.push_back(std::move(first));
  while (SkipOp(",")) {
    if (Cur().kind == TokenKind::kBlockEnd || Cur().kind == TokenKind::kVarEnd) break;
    tuple->args.push_back(ParseExpr());
  }
  return tuple;
}

ExprPtr ExprParser::ParseExpr() {
  ExprPtr e = ParseOr();
  while (IsName("if")) {
    int line = Cur().line;
    Next();
    auto cond = Make(ExprKind::kCond, line);
    cond->args.push_back(std::move(e));
    cond->args.push_back(ParseOr());
    cond->args.push_back(SkipName("else") ? ParseExpr() : nullptr);
    e = std::move(cond);
  }
  return e;
}

ExprPtr ExprParser::ParseOr() {
  ExprPtr e = ParseAnd();
  while (IsName("or")) {
    auto node = Make(ExprKind::kOr, Cur().line);
    Next();
    node->args.push_back(std::move(e));
    node->args.push_back(ParseAnd());
    e = std::move(node);
  }
  return e;
}

ExprPtr ExprParser::ParseAnd() {
  ExprPtr e = ParseNot();
  while (IsName("and")) {
    auto node = Make(ExprKind::kAnd, Cur().line);
    Next();
    node->args.push_back(std::move(e));
    node->args.push_back(ParseNot());
    e = std::move(node);
  }
  return e;
}

ExprPtr ExprParser::ParseNot() {
  if (IsName("not")) {
    auto node = Make(ExprKind::kNot, Cur().line);
    Next();
    node->args.push_back(ParseNot());
    return node;
  }
  return ParseCompare();
}

ExprPtr ExprParser::ParseCompare() {
  ExprPtr first = ParseMath1();
  ExprPtr node;
  while (true) {
    std::string op;
    if (Cur().kind == TokenKind::kOp &&
        (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">="))) {
      op = Cur().text;
      Next();
    } else if (IsName("in")) {
      op = "in";
      Next();
    } else if (IsName("not") && Peek().kind == TokenKind::kName && Peek().text == "in") {
      op = "not in";
      Next();
      Next();
    } else {
      break;
    }
    if (!node) {
      node = Make(ExprKind::kCompare, first->line);
      node->args.push_back(std::move(first));
    }
    node->ops.push_back(op);
    node->args.push_back(ParseMath1());
  }
  return node ? std::move(node) : std::move(first);
}

ExprPtr ExprParser::Binary(ExprKind kind, const std::string& op, ExprPtr a, ExprPtr b) {
  auto node = Make(kind, a->line);
  node->name = op;
  node->args.push_back(std::move(a));
  node->args.push_back(std::move(b));
  return node;
}

ExprPtr ExprParser::ParseMath1() {
  ExprPtr e = ParseConcat();
  while (IsOp("+") || IsOp("-")) {
    std::string op = Cur().text;
    Next();
    e = Binary(ExprKind::kBinary, op, std::move(e), ParseConcat());
  }
  return e;
}

ExprPtr ExprParser::ParseConcat() {
  ExprPtr e = ParseMath2();
  while (SkipOp("~")) e = Binary(ExprKind::kConcat, "~", std::move(e), ParseMath2());
  return e;
}

ExprPtr ExprParser::ParseMath2() {
  ExprPtr e = ParsePow();
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    std::string op = Cur().text;
    Next();
    e = Binary(ExprKind::kBinary, op, std::move(e), ParsePow());
  }
  return e;
}

ExprPtr ExprParser::ParsePow() {
  ExprPtr e = ParseUnary(true);
  while (SkipOp("**")) e = Binary(ExprKind::kBinary, "**", std::move(e), ParseUnary(true));
  return e;
}

ExprPtr ExprParser::ParseUnary(bool with_filter) {
  ExprPtr e;
  if (IsOp("-") || IsOp("+")) {
    e = Make(IsOp("-") ? ExprKind::kNeg : ExprKind::kPos, Cur().line);
    Next();
    e->args.push_back(ParseUnary(false));
  } else {
    e = ParsePrimary();
  }
  e = ParsePostfix(std::move(e));
  if (!with_filter) return e;
  while (true) {
    if (IsOp("|")) {
      e = ParseFilter(std::move(e));
    } else if (IsName("is")) {
      e = ParseTest(std::move(e));
    } else if (IsOp("(")) {
      e = ParseCall(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr ExprParser::ParsePostfix(ExprPtr e) {
  while (true) {
    if (IsOp(".")) {
      Next();
      if (Cur().kind == TokenKind::kInt) {
        auto item = Make(ExprKind::kItem, e->line);
        item->args.push_back(std::move(e));
        auto index = Make(ExprKind::kLiteral, Cur().line);
        index->literal = Value(Cur().int_value);
        item->args.push_back(std::move(index));
        Next();
        e = std::move(item);
      } else {
        auto attr = Make(ExprKind::kAttr, e->line);
        attr->name = ExpectName();
        attr->args.push_back(std::move(e));
        e = std::move(attr);
      }
    } else if (IsOp("[")) {
      e = ParseSubscript(std::move(e));
    } else if (IsOp("(")) {
      e = ParseCall(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr ExprParser::ParseSubscript(ExprPtr target) {
  int line = Cur().line;
  Next();  // [
  ExprPtr bounds[3];
  bool is_slice = false;
  for (int i = 0; i < 3; ++i) {
    if (!IsOp(":") && !IsOp("]")) bounds[i] = ParseExpr();
    if (i < 2 && SkipOp(":")) {
      is_slice = true;
      continue;
    }
    break;
  }
  ExpectOp("]");
  auto node = Make(is_slice ? ExprKind::kSlice : ExprKind::kItem, line);
  node->args.push_back(std::move(target));
  if (!is_slice && !bounds[0]) Fail("empty subscript");
  for (int i = 0; i < (is_slice ? 3 : 1); ++i) node->args.push_back(std::move(bounds[i]));
  return node;
}

void ExprParser::ParseArgs(Expr& call) {
  ExpectOp("(");
  while (!IsOp(")")) {
    if (IsOp("*") || IsOp("**")) Fail("*args and **kwargs are not supported");
    if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOp && Peek().text == "=") {
      std::string key = Cur().text;
      Next();
      Next();
      call.kwargs.emplace_back(key, ParseExpr());
    } else {
      if (!call.kwargs.empty()) Fail("positional argument follows keyword argument");
      call.args.push_back(ParseExpr());
    }
    if (!SkipOp(",")) break;
  }
  ExpectOp(")");
}

ExprPtr ExprParser::ParseCall(ExprPtr callee) {
  auto call = Make(ExprKind::kCall, callee->line);
  call->args.push_back(std::move(callee));
  ParseArgs(*call);
  return call;
}

ExprPtr ExprParser::ParseFilter(ExprPtr operand) {
  int line = Cur().line;
  if (operand) Next();  // |
  auto node = Make(ExprKind::kFilter, line);
  node->name = ExpectName();
  node->args.push_back(std::move(operand));
  if (IsOp("(")) ParseArgs(*node);
  return node;
}

ExprPtr ExprParser::ParseTest(ExprPtr operand) {
  auto node = Make(ExprKind::kTest, Cur().line);
  Next();  // is
  node->negated = SkipName("not");
  node->name = ExpectName();
  node->args.push_back(std::move(operand));
  const Token& t = Cur();
  if (IsOp("(")) {
    ParseArgs(*node);
  } else if ((t.kind == TokenKind::kName && t.text != "else" && t.text != "or" &&
              t.text != "and") ||
             t.kind == TokenKind::kString || t.kind == TokenKind::kInt ||
             t.kind == TokenKind::kFloat || IsOp("[") || IsOp("{")) {
    node->args.push_back(ParsePostfix(ParsePrimary()));
  }
  return node;
}

ExprPtr ExprParser::ParsePrimary() {
  const Token& t = Cur();
  auto literal = [&](Value v) {
    auto e = Make(ExprKind::kLiteral, t.line);
    e->literal = std::move(v);
    Next();
    return e;
  };
  switch (t.kind) {
    case TokenKind::kName:
      if (t.text == "true" || t.text == "True") return literal(Value(true));
      if (t.text == "false" || t.text == "False") return literal(Value(false));
      if (t.text == "none" || t.text == "None") return literal(Value::None());
      {
        auto e = Make(ExprKind::kName, t.line);
        e->name = t.text;
        Next();
        return e;
      }
    case TokenKind::kString: {
      std::string s;
      int line = t.line;
      while (Cur().kind == TokenKind::kString) {
        s += Cur().text;
        Next();
      }
      auto e = Make(ExprKind::kLiteral, line);
      e->literal = Value(std::move(s));
      return e;
    }
    case TokenKind::kInt:
      return literal(Value(t.int_value));
    case TokenKind::kFloat:
      return literal(Value(t.float_value));
    default:
      break;
  }
  int line = t.line;
  if (SkipOp("(")) {
    if (SkipOp(")")) return Make(ExprKind::kTuple, line);
    ExprPtr e = ParseExpr();
    if (IsOp(",")) {
      auto tuple = Make(ExprKind::kTuple, line);
      tuple->args.push_back(std::move(e));
      while (SkipOp(",") && !IsOp(")")) tuple->args.push_back(ParseExpr());
      e = std::move(tuple);
    }
    ExpectOp(")");
    return e;
  }
  if (SkipOp("[")) {
    auto list = Make(ExprKind::kList, line);
    while (!IsOp("]")) {
      list->args.push_back(ParseExpr());
      if (!SkipOp(",")) break;
    }
    ExpectOp("]");
    return list;
  }
  if (SkipOp("{")) {
    auto dict = Make(ExprKind::kDict, line);
    while (!IsOp("}")) {
      dict->args.push_back(ParseExpr());
      ExpectOp(":");
      dict->args.push_back(ParseExpr());
      if (!SkipOp(",")) break;
    }
    ExpectOp("}");
    return dict;
  }
  Unexpected("an expression");
}

}  // namespace xq::jinja
