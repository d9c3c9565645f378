#include "engine/tokenizer/jinja_eval.h"

#include <unordered_map>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_filters.h"
#include "engine/tokenizer/jinja_ops.h"

namespace xq::jinja {
namespace {

// An error that already names its template line, so enclosing statements pass it through.
class LocatedError : public Error {
 public:
  using Error::Error;
};

// A variable scope. jinja2 gives each for-loop iteration and each macro call its own scope;
// if-blocks share the enclosing one.
struct Frame {
  const Frame* parent = nullptr;
  std::unordered_map<std::string, Value> vars;

  const Value* Find(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  explicit Interpreter(Frame* root) : root_(root) {}

  Flow Exec(const Body& body, Frame& frame, std::string& out) {
    for (const auto& stmt : body) {
      Flow flow;
      try {
        flow = ExecStmt(*stmt, frame, out);
      } catch (const LocatedError&) {
        throw;
      } catch (const Error& e) {
        throw LocatedError("line " + std::to_string(stmt->line) + ": " + e.what());
      }
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

 private:
  Flow ExecStmt(const Stmt& s, Frame& frame, std::string& out) {
    switch (s.kind) {
      case StmtKind::kText:
        out += s.text;
        break;
      case StmtKind::kOutput:
        out += Eval(*s.expr, frame).Str();
        break;
      case StmtKind::kIf:
        for (const auto& [cond, body] : s.branches) {
          if (!cond || Eval(*cond, frame).Truthy()) return Exec(body, frame, out);
        }
        break;
      case StmtKind::kFor:
        ExecFor(s, frame, out);
        break;
      case StmtKind::kSet:
        Assign(s, Eval(*s.expr, frame), frame);
        break;
      case StmtKind::kSetBlock: {
        std::string captured;
        Frame inner{&frame, {}};
        Exec(s.body, inner, captured);
        frame.vars[s.targets[0]] = Value(std::move(captured));
        break;
      }
      case StmtKind::kMacro:
        frame.vars[s.text] = MakeMacro(s);
        break;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kFilterBlock: {
        std::string captured;
        Frame inner{&frame, {}};
        Exec(s.body, inner, captured);
        Value input(std::move(captured));
        out += EvalFilter(*s.expr, &input, frame).Str();
        break;
      }
      case StmtKind::kScope:
        return Exec(s.body, frame, out);
    }
    return Flow::kNormal;
  }

  void Bind(const std::vector<std::string>& targets, const Value& v, Frame& frame) {
    if (targets.size() == 1) {
      frame.vars[targets[0]] = v;
      return;
    }
    ValueList items = Iterate(v);
    if (items.size() != targets.size()) {
      throw Error("cannot unpack " + std::to_string(items.size()) + " values into " +
                  std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < targets.size(); ++i) frame.vars[targets[i]] = items[i];
  }

  void Assign(const Stmt& s, const Value& v, Frame& frame) {
    if (s.attr.empty()) return Bind(s.targets, v, frame);
    const Value* ns = frame.Find(s.targets[0]);
    if (!ns || !ns->IsNamespace()) {
      throw Error("cannot assign attribute '" + s.attr + "' on '" + s.targets[0] +
                  "', which is not a namespace()");
    }
    ns->AsDict().Set(s.attr, v);
  }

  void ExecFor(const Stmt& s, Frame& frame, std::string& out) {
    Value iterable = Eval(*s.expr, frame);
    if (iterable.IsNone()) throw Error("'NoneType' object is not iterable");
    ValueList items = Iterate(iterable);
    if (s.cond) {
      ValueList kept;
      for (const Value& item : items) {
        Frame probe{&frame, {}};
        Bind(s.targets, item, probe);
        if (Eval(*s.cond, probe).Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      Frame iter{&frame, {}};
      Bind(s.targets, items[i], iter);
      Value loop = Value::MakeDict(true);
      Dict& d = loop.AsDict();
      d.Set("index", Value(i + 1));
      d.Set("index0", Value(i));
      d.Set("revindex", Value(n - i));
      d.Set("revindex0", Value(n - i - 1));
      d.Set("first", Value(i == 0));
      d.Set("last", Value(i == n - 1));
      d.Set("length", Value(n));
      d.Set("depth", Value(1));
      d.Set("depth0", Value(0));
      d.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("there is no previous item"));
      d.Set("nextitem", i + 1 < n ? items[i + 1] : Value::Undefined("there is no next item"));
      d.Set("cycle", Value::Function("loop.cycle", [i](Args& a) {
              if (a.positional.empty()) throw Error("loop.cycle() needs at least one value");
              return a.positional[i % a.positional.size()];
            }));
      iter.vars["loop"] = std::move(loop);
      if (Exec(s.body, iter, out) == Flow::kBreak) break;
    }
    if (n == 0) {
      Frame inner{&frame, {}};
      Exec(s.else_body, inner, out);
    }
  }

  Value MakeMacro(const Stmt& s) {
    return Value::Function(s.text, [this, &s](Args& args) {
      if (args.positional.size() > s.params.size()) {
        throw Error("macro '" + s.text + "' takes " + std::to_string(s.params.size()) +
                    " arguments, got " + std::to_string(args.positional.size()));
      }
      // A template from a model file must not be able to overflow the stack.
      if (call_depth_ >= kMaxCallDepth) throw Error("macro '" + s.text + "' recursed too deeply");
      ++call_depth_;
      struct Unwind {
        int& depth;
        ~Unwind() { --depth; }
      } unwind{call_depth_};
      Frame call{root_, {}};
      for (size_t i = 0; i < s.params.size(); ++i) {
        const auto& [name, def] = s.params[i];
        Value v = args.Get(i, name);
        if (v.IsUndefined() && def) v = Eval(*def, call);
        call.vars[name] = v.IsUndefined() ? Value::Undefined("'" + name + "' is undefined") : v;
      }
      std::string out;
      Exec(s.body, call, out);
      return Value(std::move(out));
    });
  }

  Args EvalArgs(const Expr& e, size_t first, Frame& frame) {
    Args args;
    for (size_t i = first; i < e.args.size(); ++i)
      args.positional.push_back(Eval(*e.args[i], frame));
    for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, Eval(*v, frame));
    return args;
  }

  // `block_input` is the captured body of a {% filter a|b %} block, whose first filter has no
  // operand expression.
  Value EvalFilter(const Expr& e, const Value* block_input, Frame& frame) {
    Value in = !e.args[0]    ? *block_input
               : block_input ? EvalFilter(*e.args[0], block_input, frame)
                             : Eval(*e.args[0], frame);
    Args args = EvalArgs(e, 1, frame);
    return ApplyFilter(e.name, in, args);
  }

  Value Eval(const Expr& e, Frame& frame) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return e.literal;
      case ExprKind::kName: {
        if (const Value* v = frame.Find(e.name)) return *v;
        return Value::Undefined("'" + e.name + "' is undefined");
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        ValueList items;
        for (const auto& a : e.args) items.push_back(Eval(*a, frame));
        return Value::List(std::move(items), e.kind == ExprKind::kTuple);
      }
      case ExprKind::kDict: {
        Value d = Value::MakeDict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value key = Eval(*e.args[i], frame);
          if (key.IsList() || key.IsDict() || key.IsUndefined()) {
            throw Error("unhashable dict key of type '" + key.TypeName() + "'");
          }
          d.AsDict().Set(key, Eval(*e.args[i + 1], frame));
        }
        return d;
      }
      case ExprKind::kAttr:
        return GetAttr(Eval(*e.args[0], frame), e.name);
      case ExprKind::kItem:
        return GetItem(Eval(*e.args[0], frame), Eval(*e.args[1], frame));
      case ExprKind::kSlice: {
        auto bound = [&](size_t i) { return e.args[i] ? Eval(*e.args[i], frame) : Value(); };
        return Slice(Eval(*e.args[0], frame), bound(1), bound(2), bound(3));
      }
      case ExprKind::kCall: {
        Value callee = Eval(*e.args[0], frame);
        if (callee.IsUndefined()) callee.FailUndefined();
        if (!callee.IsFunc()) throw Error("'" + callee.TypeName() + "' object is not callable");
        Args args = EvalArgs(e, 1, frame);
        return callee.Call(args);
      }
      case ExprKind::kFilter:
        return EvalFilter(e, nullptr, frame);
      case ExprKind::kTest: {
        Value v = Eval(*e.args[0], frame);
        Args args = EvalArgs(e, 1, frame);
        return Value(ApplyTest(e.name, v, args) != e.negated);
      }
      case ExprKind::kNot:
        return Value(!Eval(*e.args[0], frame).Truthy());
      case ExprKind::kNeg:
      case ExprKind::kPos: {
        Value v = Eval(*e.args[0], frame);
        if (v.IsUndefined()) v.FailUndefined();
        if (!v.IsNumber()) throw Error("bad operand type for unary -: '" + v.TypeName() + "'");
        if (e.kind == ExprKind::kPos) return v.IsBool() ? Value(v.AsInt()) : v;
        return v.IsFloat() ? Value(-v.AsDouble()) : Value(-v.AsInt());
      }
      case ExprKind::kBinary:
        return Arith(e.name, Eval(*e.args[0], frame), Eval(*e.args[1], frame));
      case ExprKind::kConcat:
        return Value(Eval(*e.args[0], frame).Str() + Eval(*e.args[1], frame).Str());
      case ExprKind::kCompare: {
        Value left = Eval(*e.args[0], frame);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = Eval(*e.args[i + 1], frame);
          if (!Compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case ExprKind::kAnd: {
        Value a = Eval(*e.args[0], frame);
        return a.Truthy() ? Eval(*e.args[1], frame) : a;
      }
      case ExprKind::kOr: {
        Value a = Eval(*e.args[0], frame);
        return a.Truthy() ? a : Eval(*e.args[1], frame);
      }
      case ExprKind::kCond:
        if (Eval(*e.args[1], frame).Truthy()) return Eval(*e.args[0], frame);
        if (e.args[2]) return Eval(*e.args[2], frame);
        return Value::Undefined("the inline if-expression evaluated to false and has no else");
    }
    return Value();
  }

  static bool Compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return Equal(a, b);
    if (op == "!=") return !Equal(a, b);
    if (op == "<") return Less(a, b);
    if (op == ">") return Less(b, a);
    if (op == "<=") return !Less(b, a);
    if (op == ">=") return !Less(a, b);
    if (op == "in") return Contains(b, a);
    return !Contains(b, a);  // not in
  }

  static constexpr int kMaxCallDepth = 100;
  Frame* root_;
  int call_depth_ = 0;
};

}  // namespace

std::string Render(const Body& body, const Variables& variables) {
  Frame globals;
  globals.vars["range"] = Value::Function("range", [](Args& a) {
    a.Expect("range", 3);
    if (a.positional.empty()) throw Error("range expected at least 1 argument");
    int64_t start = 0, stop, step = 1;
    if (a.positional.size() == 1) {
      stop = a.positional[0].AsInt();
    } else {
      start = a.positional[0].AsInt();
      stop = a.positional[1].AsInt();
      if (a.positional.size() == 3) step = a.positional[2].AsInt();
    }
    if (step == 0) throw Error("range() arg 3 must not be zero");
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() > 100000) throw Error("range() too large");
      out.emplace_back(i);
    }
    return Value::List(std::move(out));
  });
  auto make_dict = [](bool is_namespace) {
    return [is_namespace](Args& a) {
      Value d = Value::MakeDict(is_namespace);
      for (const Value& p : a.positional) {
        if (!p.IsDict()) throw Error("namespace()/dict() positional argument must be a dict");
        for (const auto& [k, v] : p.AsDict().items) d.AsDict().Set(k, v);
      }
      for (const auto& [k, v] : a.keyword) d.AsDict().Set(k, v);
      return d;
    };
  };
  globals.vars["namespace"] = Value::Function("namespace", make_dict(true));
  globals.vars["dict"] = Value::Function("dict", make_dict(false));
  for (const auto& [name, value] : variables) globals.vars[name] = value;

  Frame top{&globals, {}};
  Interpreter interp(&top);
  std::string out;
  interp.Exec(body, top, out);
  return out;
}

}  // namespace xq::jinja
