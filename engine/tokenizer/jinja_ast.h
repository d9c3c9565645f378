// The syntax tree of a parsed chat template: expressions and statements of the Jinja subset
// that xq's interpreter supports.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tokenizer/jinja_value.h"

namespace xq::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using KeywordExprs = std::vector<std::pair<std::string, ExprPtr>>;

enum class ExprKind {
  kLiteral,
  kName,
  kList,
  kTuple,
  kDict,    // args alternate key, value
  kAttr,    // args[0].name
  kItem,    // args[0][args[1]]
  kSlice,   // args[0][args[1]:args[2]:args[3]], missing bounds are null
  kCall,    // args[0](args[1:], kwargs)
  kFilter,  // args[0] | name(args[1:], kwargs); args[0] is null in {% filter %} blocks
  kTest,    // args[0] is [not] name(args[1:])
  kNot,
  kNeg,
  kPos,
  kBinary,   // args[0] name args[1] for + - * / // % **
  kConcat,   // ~
  kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ...
  kAnd,
  kOr,
  kCond,  // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  KeywordExprs kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

enum class StmtKind {
  kText,
  kOutput,    // {{ expr }}
  kIf,        // branches (a null condition is the else branch)
  kFor,       // for targets in expr [if cond]: body, else_body
  kSet,       // set targets[0][.attr] = expr, or set a, b = expr
  kSetBlock,  // set targets[0] %}body{% endset
  kMacro,     // macro name(params): body
  kBreak,
  kContinue,
  kFilterBlock,  // filter expr(body)
  kScope,        // a block rendered as is, e.g. transformers' {% generation %}
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;  // text, or the macro's name
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::string> targets;
  std::string attr;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  KeywordExprs params;  // macro parameters with their defaults (null when none)
};

}  // namespace xq::jinja
