#include "engine/tokenizer/jinja_filters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_ops.h"

namespace xq::jinja {
namespace {

// Resolves a dotted attribute path ("function.name") the way jinja2's attribute filters do.
Value Attribute(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    int64_t index = 0;
    // An index too large for int64 finds nothing (stoll threw out_of_range).
    const bool numeric = digits && std::from_chars(part.data(), part.data() + part.size(), index).ec ==
                                       std::errc();
    v = numeric ? GetItem(v, Value(index)) : digits ? Value() : GetItem(v, Value(part));
    if (dot == std::string::npos) return v;
    if (v.IsUndefined()) return v;
    start = dot + 1;
  }
}

Args Rest(const Args& args, size_t skip) {
  Args rest;
  if (args.positional.size() > skip) {
    rest.positional.assign(args.positional.begin() + skip, args.positional.end());
  }
  return rest;
}

ValueList SelectOrReject(const Value& input, const Args& args, bool by_attr, bool select) {
  ValueList out;
  if (!input.Truthy()) return out;  // jinja2 skips a falsy sequence (None) here
  Value attr = by_attr ? args.Get(0, "attribute") : Value();
  size_t skip = by_attr ? 1 : 0;
  Value test = args.Get(skip, "\x01");
  Args test_args = Rest(args, skip + 1);
  for (const Value& item : Iterate(input)) {
    Value v = by_attr ? Attribute(item, attr.Str()) : item;
    bool ok = test.IsUndefined() ? v.Truthy() : ApplyTest(test.Str(), v, test_args);
    if (ok == select) out.push_back(item);
  }
  return out;
}

// Sort key for sort/dictsort/unique: case-insensitive on strings unless asked otherwise.
Value SortKey(const Value& v, bool case_sensitive) {
  return v.IsString() && !case_sensitive ? Value(Lower(v.AsString())) : v;
}

std::string Indent(const std::string& input, const Value& width, bool first, bool blank) {
  std::string indention = width.IsString() ? width.AsString() : std::string(width.AsInt(), ' ');
  std::string s = input + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') {
      lines.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      rv += '\n';
      if (blank || !lines[i].empty()) rv += indention;
    }
    rv += lines[i];
  }
  return first ? indention + rv : rv;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Value ToInt(const Value& v, const Value& fallback) {
  if (v.IsInt() || v.IsBool()) return Value(v.AsInt());
  if (v.IsFloat()) return Value(static_cast<int64_t>(v.AsDouble()));
  if (v.IsString()) {
    std::string s = Strip(v.AsString(), std::nullopt, true, true);
    char* end = nullptr;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') return Value(static_cast<int64_t>(i));
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return Value(static_cast<int64_t>(d));
  }
  return fallback;
}

Value MinMax(const Value& input, const Args& args, bool want_max) {
  ValueList items = Iterate(input);
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  bool cs = args.Get(0, "case_sensitive", Value(false)).Truthy();
  Value attr = args.Get(1, "attribute");
  auto key = [&](const Value& v) {
    return SortKey(attr.IsUndefined() ? v : Attribute(v, attr.Str()), cs);
  };
  Value best = items[0];
  for (const Value& v : items) {
    if (want_max ? Less(key(best), key(v)) : Less(key(v), key(best))) best = v;
  }
  return best;
}

}  // namespace

Value ApplyFilter(const std::string& name, const Value& input, const Args& args) {
  const Value& in = input;
  if (name == "default" || name == "d") {
    bool boolean = args.Get(1, "boolean", Value(false)).Truthy();
    if (in.IsUndefined() || (boolean && !in.Truthy())) return args.Get(0, "default_value", "");
    return in;
  }
  if (name == "length" || name == "count") {
    if (in.IsString()) return Value(static_cast<int64_t>(ToU32(in.AsString()).size()));
    if (in.IsDict()) return Value(static_cast<int64_t>(in.AsDict().items.size()));
    if (in.IsList()) return Value(static_cast<int64_t>(in.Items().size()));
    if (in.IsUndefined()) return Value(0);
    throw Error("object of type '" + in.TypeName() + "' has no len()");
  }
  if (name == "tojson") {  // transformers: tojson(x, ensure_ascii, indent, separators, sort_keys)
    if (args.Get(0, "ensure_ascii").Truthy()) throw Error("tojson: ensure_ascii is not supported");
    Value indent = args.Get(1, "indent");
    int ind = indent.IsInt() ? static_cast<int>(indent.AsInt()) : -1;
    std::string item_sep = ind >= 0 ? "," : ", ", key_sep = ": ";
    Value seps = args.Get(2, "separators");
    if (seps.IsList() && seps.Items().size() == 2) {
      item_sep = seps.Items()[0].Str();
      key_sep = seps.Items()[1].Str();
    }
    return Value(ToJson(in, ind, item_sep, key_sep, args.Get(3, "sort_keys").Truthy()));
  }
  if (name == "trim") {
    Value chars = args.Get(0, "chars");
    return Value(Strip(in.Str(), chars.IsString() ? std::optional(chars.AsString()) : std::nullopt,
                       true, true));
  }
  if (name == "string") return Value(in.Str());
  if (name == "safe") return in;
  if (name == "upper") return Value(Upper(in.Str()));
  if (name == "lower") return Value(Lower(in.Str()));
  if (name == "capitalize") {
    std::string s = Lower(in.Str());
    if (!s.empty()) s[0] = std::toupper(static_cast<unsigned char>(s[0]));
    return Value(s);
  }
  if (name == "title") {
    std::string s = in.Str();
    bool start = true;
    for (char& c : s) {
      c = start ? std::toupper(static_cast<unsigned char>(c))
                : std::tolower(static_cast<unsigned char>(c));
      start = std::isspace(static_cast<unsigned char>(c)) || std::strchr("-({[<", c) != nullptr;
    }
    return Value(s);
  }
  if (name == "replace") {
    return Value(
        Replace(in.Str(), args.Get(0, "old").Str(), args.Get(1, "new").Str(),
                args.Get(2, "count", Value::None()).IsInt() ? args.Get(2, "count").AsInt() : -1));
  }
  if (name == "escape" || name == "e") return Value(HtmlEscape(in.Str()));
  if (name == "indent") {
    return Value(Indent(in.Str(), args.Get(0, "width", Value(4)),
                        args.Get(1, "first", Value(false)).Truthy(),
                        args.Get(2, "blank", Value(false)).Truthy()));
  }
  if (name == "int") return ToInt(in, args.Get(0, "default", Value(0)));
  if (name == "float") {
    if (in.IsNumber()) return Value(in.AsDouble());
    char* end = nullptr;
    std::string s = Strip(in.Str(), std::nullopt, true, true);
    double d = std::strtod(s.c_str(), &end);
    return !s.empty() && *end == '\0' ? Value(d) : args.Get(0, "default", Value(0.0));
  }
  if (name == "abs") {
    if (in.IsFloat()) return Value(std::fabs(in.AsDouble()));
    if (in.IsNumber()) return Value(static_cast<int64_t>(std::llabs(in.AsInt())));
    throw Error("bad operand type for abs(): '" + in.TypeName() + "'");
  }
  if (name == "round") {
    double p = std::pow(10.0, args.Get(0, "precision", Value(0)).AsInt());
    std::string method = args.Get(1, "method", "common").Str();
    double x = in.AsDouble() * p;
    x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value(x / p);
  }
  if (name == "first" || name == "last") {
    ValueList items = Iterate(in);
    if (items.empty()) return Value::Undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::List(Iterate(in));
  if (name == "reverse") {
    if (in.IsString()) {
      std::u32string u = ToU32(in.AsString());
      std::reverse(u.begin(), u.end());
      return Value(ToUtf8(u));
    }
    ValueList items = Iterate(in);
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "items") {
    if (in.IsUndefined()) return Value::List();
    if (!in.IsDict()) throw Error("items filter: expected a mapping, got " + in.TypeName());
    ValueList out;
    for (const auto& [k, v] : in.AsDict().items) out.push_back(Value::List({Value(k), v}, true));
    return Value::List(std::move(out));
  }
  if (name == "dictsort") {
    if (!in.IsDict()) throw Error("dictsort filter: expected a mapping, got " + in.TypeName());
    bool cs = args.Get(0, "case_sensitive", Value(false)).Truthy();
    bool by_value = args.Get(1, "by", "key").Str() == "value";
    ValueList out;
    for (const auto& [k, v] : in.AsDict().items) out.push_back(Value::List({Value(k), v}, true));
    std::stable_sort(out.begin(), out.end(), [&](const Value& a, const Value& b) {
      size_t i = by_value ? 1 : 0;
      return Less(SortKey(a.Items()[i], cs), SortKey(b.Items()[i], cs));
    });
    if (args.Get(2, "reverse", Value(false)).Truthy()) std::reverse(out.begin(), out.end());
    return Value::List(std::move(out));
  }
  if (name == "sort") {
    ValueList items = Iterate(in);
    bool reverse = args.Get(0, "reverse", Value(false)).Truthy();
    bool cs = args.Get(1, "case_sensitive", Value(false)).Truthy();
    Value attr = args.Get(2, "attribute");
    auto key = [&](const Value& v) {
      return SortKey(attr.IsUndefined() ? v : Attribute(v, attr.Str()), cs);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return reverse ? Less(key(b), key(a)) : Less(key(a), key(b));
    });
    return Value::List(std::move(items));
  }
  if (name == "unique") {
    bool cs = args.Get(0, "case_sensitive", Value(false)).Truthy();
    Value attr = args.Get(1, "attribute");
    ValueList out, seen;
    for (const Value& v : Iterate(in)) {
      Value key = SortKey(attr.IsUndefined() ? v : Attribute(v, attr.Str()), cs);
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return Equal(s, key); })) {
        seen.push_back(key);
        out.push_back(v);
      }
    }
    return Value::List(std::move(out));
  }
  if (name == "min" || name == "max") return MinMax(in, args, name == "max");
  if (name == "sum") {
    Value attr = args.Get(0, "attribute");
    Value total = args.Get(1, "start", Value(0));
    for (const Value& v : Iterate(in)) {
      total = Arith("+", total, attr.IsUndefined() ? v : Attribute(v, attr.Str()));
    }
    return total;
  }
  if (name == "join") {
    std::string sep = args.Get(0, "d", "").Str();
    Value attr = args.Get(1, "attribute");
    std::string out;
    ValueList items = Iterate(in);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += sep;
      out += (attr.IsUndefined() ? items[i] : Attribute(items[i], attr.Str())).Str();
    }
    return Value(out);
  }
  if (name == "map") {
    ValueList out;
    Value attr = args.Get(SIZE_MAX, "attribute");
    for (const Value& item : in.Truthy() ? Iterate(in) : ValueList()) {
      if (!attr.IsUndefined()) {
        Value v = Attribute(item, attr.Str());
        out.push_back(v.IsUndefined() ? args.Get(SIZE_MAX, "default", v) : v);
      } else {
        out.push_back(ApplyFilter(args.Get(0, "\x01").Str(), item, Rest(args, 1)));
      }
    }
    return Value::List(std::move(out));
  }
  if (name == "select" || name == "reject") {
    return Value::List(SelectOrReject(in, args, false, name == "select"));
  }
  if (name == "selectattr" || name == "rejectattr") {
    return Value::List(SelectOrReject(in, args, true, name == "selectattr"));
  }
  if (name == "attr") return GetAttr(in, args.Get(0, "name").Str());
  throw Error("unknown filter '" + name + "'");
}

bool ApplyTest(const std::string& name, const Value& in, const Args& args) {
  auto arg = [&]() { return args.Get(0, "\x01"); };
  if (name == "defined") return !in.IsUndefined();
  if (name == "undefined") return in.IsUndefined();
  if (name == "none") return in.IsNone();
  if (name == "string") return in.IsString();
  if (name == "number") return in.IsNumber();
  if (name == "integer") return in.IsInt();
  if (name == "float") return in.IsFloat();
  if (name == "boolean") return in.IsBool();
  if (name == "true") return in.IsBool() && in.AsBool();
  if (name == "false") return in.IsBool() && !in.AsBool();
  if (name == "mapping") return in.IsDict() && !in.IsNamespace();
  if (name == "iterable" || name == "sequence") {
    return in.IsUndefined() || in.IsString() || in.IsList() || (in.IsDict() && !in.IsNamespace());
  }
  if (name == "callable") return in.IsFunc();
  if (name == "odd" || name == "even") {
    int64_t v = in.IsNumber() ? in.AsInt() : 0;
    return (v % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    int64_t d = arg().AsInt();
    return d != 0 && in.AsInt() % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return Equal(in, arg());
  if (name == "ne" || name == "!=") return !Equal(in, arg());
  if (name == "lt" || name == "lessthan" || name == "<") return Less(in, arg());
  if (name == "gt" || name == "greaterthan" || name == ">") return Less(arg(), in);
  if (name == "le" || name == "<=") return !Less(arg(), in);
  if (name == "ge" || name == ">=") return !Less(in, arg());
  if (name == "in") return Contains(arg(), in);
  if (name == "sameas") {
    Value other = arg();
    if (in.type() != other.type()) return false;
    return in.IsNone() || in.IsUndefined() || (in.IsBool() && in.AsBool() == other.AsBool()) ||
           (in.IsList() && &in.Items() == &other.Items()) ||
           (in.IsDict() && &in.AsDict() == &other.AsDict());
  }
  if (name == "lower") return in.IsString() && Lower(in.AsString()) == in.AsString();
  if (name == "upper") return in.IsString() && Upper(in.AsString()) == in.AsString();
  throw Error("unknown test '" + name + "'");
}

}  // namespace xq::jinja
