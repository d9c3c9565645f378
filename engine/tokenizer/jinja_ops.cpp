#include "engine/tokenizer/jinja_ops.h"

#include <cctype>
#include <cmath>

#include "engine/common/error.h"

namespace xq::jinja {
namespace {

bool IsPySpace(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
         c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x205f || c == 0x3000;
}

[[noreturn]] void TypeError(const std::string& op, const Value& a, const Value& b) {
  throw Error("unsupported operand type(s) for " + op + ": '" + a.TypeName() + "' and '" +
              b.TypeName() + "'");
}

// Python's str.split: on runs of whitespace without `sep`, else on each `sep`.
ValueList Split(const std::string& s, const Value& sep, int64_t maxsplit) {
  ValueList out;
  if (sep.IsNone() || sep.IsUndefined()) {
    std::u32string u = ToU32(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && IsPySpace(u[i])) ++i;
      if (i == u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t end = u.size();
        while (end > i && IsPySpace(u[end - 1])) --end;
        out.emplace_back(ToUtf8(u.substr(i, end - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !IsPySpace(u[j])) ++j;
      out.emplace_back(ToUtf8(u.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  if (!sep.IsString()) throw Error("split(): separator must be a string");
  const std::string& d = sep.AsString();
  if (d.empty()) throw Error("split(): empty separator");
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t at = s.find(d, start);
    if (at == std::string::npos) break;
    out.emplace_back(s.substr(start, at - start));
    start = at + d.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

bool MatchesAffix(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.IsString()) throw Error("startswith/endswith: argument must be a string or tuple");
    const std::string& x = a.AsString();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.IsList()) {
    for (const Value& a : affix.Items()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

std::string Title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    bool cased = std::isalpha(static_cast<unsigned char>(c));
    if (cased) c = prev_cased ? std::tolower(c) : std::toupper(c);
    prev_cased = cased;
  }
  return out;
}

// str.format with {} / {0} / {name} fields and no format specs.
std::string Format(const std::string& fmt, const Args& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if ((c == '{' || c == '}') && i + 1 < fmt.size() && fmt[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{') {
      size_t end = fmt.find('}', i);
      if (end == std::string::npos) throw Error("format(): unmatched '{'");
      std::string field = fmt.substr(i + 1, end - i - 1);
      if (field.find_first_of(":!") != std::string::npos) {
        throw Error("format(): format specs are not supported");
      }
      Value v;
      if (field.empty()) {
        v = args.Get(auto_index++, "\x01");
      } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
        v = args.Get(std::stoul(field), "\x01");
      } else {
        v = args.Get(SIZE_MAX, field);
      }
      if (v.IsUndefined()) throw Error("format(): missing argument for '{" + field + "}'");
      out += v.Str();
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

Value StringMethod(const std::string& s, const std::string& name) {
  auto method = [&](Func fn) { return Value::Function("str." + name, std::move(fn)); };
  auto chars_arg = [](const Args& a) -> std::optional<std::string> {
    Value c = a.Get(0, "chars");
    if (c.IsUndefined() || c.IsNone()) return std::nullopt;
    return c.Str();
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool left = name != "rstrip", right = name != "lstrip";
    return method([=](Args& a) { return Value(Strip(s, chars_arg(a), left, right)); });
  }
  if (name == "upper") return method([=](Args&) { return Value(Upper(s)); });
  if (name == "lower") return method([=](Args&) { return Value(Lower(s)); });
  if (name == "title") return method([=](Args&) { return Value(Title(s)); });
  if (name == "capitalize") {
    return method([=](Args&) {
      std::string r = Lower(s);
      if (!r.empty()) r[0] = std::toupper(static_cast<unsigned char>(r[0]));
      return Value(r);
    });
  }
  if (name == "startswith" || name == "endswith") {
    bool prefix = name == "startswith";
    return method([=](Args& a) { return Value(MatchesAffix(s, a.Get(0, "prefix"), prefix)); });
  }
  if (name == "split") {
    return method([=](Args& a) {
      Value max = a.Get(1, "maxsplit", Value(-1));
      return Value::List(Split(s, a.Get(0, "sep"), max.AsInt()));
    });
  }
  if (name == "splitlines") {
    return method([=](Args&) {
      ValueList out;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          out.emplace_back(s.substr(start, i - start));
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
          start = i + 1;
        }
      }
      if (start < s.size()) out.emplace_back(s.substr(start));
      return Value::List(std::move(out));
    });
  }
  if (name == "replace") {
    return method([=](Args& a) {
      return Value(Replace(s, a.Get(0, "old").Str(), a.Get(1, "new").Str(),
                           a.Get(2, "count", Value(-1)).AsInt()));
    });
  }
  if (name == "format") return method([=](Args& a) { return Value(Format(s, a)); });
  if (name == "join") {
    return method([=](Args& a) {
      std::string out;
      ValueList items = Iterate(a.Get(0, "iterable"));
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += s;
        out += items[i].Str();
      }
      return Value(out);
    });
  }
  if (name == "find" || name == "count") {
    bool find = name == "find";
    return method([=](Args& a) {
      std::string sub = a.Get(0, "sub").Str();
      if (find) {
        size_t at = s.find(sub);
        return Value(at == std::string::npos ? int64_t{-1}
                                             : static_cast<int64_t>(ToU32(s.substr(0, at)).size()));
      }
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos && !sub.empty();
           at = s.find(sub, at + sub.size())) {
        ++n;
      }
      return Value(n);
    });
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    return method([=](Args&) {
      if (s.empty()) return Value(false);
      for (unsigned char c : s) {
        bool ok = name == "isdigit"   ? std::isdigit(c)
                  : name == "isspace" ? std::isspace(c)
                  : name == "isalpha" ? std::isalpha(c)
                                      : std::isalnum(c);
        if (!ok) return Value(false);
      }
      return Value(true);
    });
  }
  return Value::Undefined("'str object' has no attribute '" + name + "'");
}

Value DictMethod(const Value& obj, const std::string& name) {
  auto method = [&](Func fn) { return Value::Function("dict." + name, std::move(fn)); };
  if (name == "items" || name == "keys" || name == "values") {
    return method([obj, name](Args&) {
      ValueList out;
      for (const auto& [k, v] : obj.AsDict().items) {
        if (name == "items") out.push_back(Value::List({Value(k), v}, true));
        if (name == "keys") out.emplace_back(k);
        if (name == "values") out.push_back(v);
      }
      return Value::List(std::move(out));
    });
  }
  if (name == "get") {
    return method([obj](Args& a) {
      Value key = a.Get(0, "key");
      const Value* v = obj.AsDict().Find(key);
      return v ? *v : a.Get(1, "default", Value::None());
    });
  }
  return Value();
}

int64_t NormalizeIndex(int64_t i, size_t size) {
  return i < 0 ? i + static_cast<int64_t>(size) : i;
}

}  // namespace

std::string Strip(const std::string& s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  std::u32string u = ToU32(s);
  std::u32string set = chars ? ToU32(*chars) : std::u32string();
  auto strip = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : IsPySpace(c);
  };
  size_t b = 0, e = u.size();
  if (left) {
    while (b < e && strip(u[b])) ++b;
  }
  if (right) {
    while (e > b && strip(u[e - 1])) --e;
  }
  return ToUtf8(u.substr(b, e - b));
}

std::string Upper(std::string s) {
  for (char& c : s) c = std::toupper(static_cast<unsigned char>(c));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = std::tolower(static_cast<unsigned char>(c));
  return s;
}

std::string Replace(const std::string& s, const std::string& old, const std::string& with,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    std::u32string u = ToU32(s);
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += with;
      if (i < u.size()) out += ToUtf8(u.substr(i, 1));
    }
    return out;
  }
  size_t start = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    size_t at = s.find(old, start);
    if (at == std::string::npos) break;
    out += s.substr(start, at - start) + with;
    start = at + old.size();
  }
  return out + s.substr(start);
}

Value GetAttr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kUndefined:
      obj.FailUndefined();
    case Value::Type::kString:
      return StringMethod(obj.AsString(), name);
    case Value::Type::kDict: {
      if (!obj.IsNamespace()) {
        Value method = DictMethod(obj, name);
        if (!method.IsUndefined()) return method;
      }
      if (const Value* v = obj.AsDict().Find(name)) return *v;
      return Value::Undefined("'" + obj.TypeName() + " object' has no attribute '" + name + "'");
    }
    case Value::Type::kList:
      if (name == "append" || name == "pop" || name == "insert" || name == "extend") {
        throw Error("access to attribute '" + name + "' of 'list' object is unsafe");
      }
      [[fallthrough]];
    default:
      std::string hint = "'";
      hint += obj.Repr() + "' has no attribute '" + name + "'";
      return Value::Undefined(hint);
  }
}

Value GetItem(const Value& obj, const Value& key) {
  if (obj.IsUndefined()) obj.FailUndefined();
  if (obj.IsDict()) {
    if (const Value* v = obj.AsDict().Find(key)) return *v;
    if (key.IsString()) return GetAttr(obj, key.AsString());
    return Value::Undefined("'dict object' has no attribute " + key.Repr());
  }
  if ((obj.IsList() || obj.IsString()) && (key.IsInt() || key.IsBool())) {
    if (obj.IsList()) {
      int64_t i = NormalizeIndex(key.AsInt(), obj.Items().size());
      if (i >= 0 && i < static_cast<int64_t>(obj.Items().size())) return obj.Items()[i];
    } else {
      std::u32string u = ToU32(obj.AsString());
      int64_t i = NormalizeIndex(key.AsInt(), u.size());
      if (i >= 0 && i < static_cast<int64_t>(u.size())) return Value(ToUtf8(u.substr(i, 1)));
    }
    return Value::Undefined(obj.TypeName() + " object has no element " + key.Repr());
  }
  if (obj.IsString() && key.IsString()) return GetAttr(obj, key.AsString());
  std::string hint = "'";
  hint += obj.TypeName() + " object' has no attribute " + key.Repr();
  return Value::Undefined(hint);
}

Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.IsUndefined()) obj.FailUndefined();
  if (!obj.IsList() && !obj.IsString()) throw Error("'" + obj.TypeName() + "' is not sliceable");
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.IsUndefined() || v.IsNone()) return std::nullopt;
    if (!v.IsInt() && !v.IsBool())
      throw Error(std::string("slice ") + what + " must be an integer");
    return v.AsInt();
  };
  std::u32string u;
  if (obj.IsString()) u = ToU32(obj.AsString());
  const int64_t n = obj.IsString() ? u.size() : obj.Items().size();
  const int64_t st = bound(step, "step").value_or(1);
  if (st == 0) throw Error("slice step cannot be zero");
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + n : *v;
    if (x < 0) return st < 0 ? int64_t{-1} : int64_t{0};
    if (x >= n) return st < 0 ? n - 1 : n;
    return x;
  };
  int64_t b = clamp(bound(start, "start"), st < 0 ? n - 1 : 0);
  int64_t e = clamp(bound(stop, "stop"), st < 0 ? -1 : n);
  ValueList items;
  std::u32string chars;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
    if (obj.IsString()) {
      chars += u[i];
    } else {
      items.push_back(obj.Items()[i]);
    }
  }
  if (obj.IsString()) return Value(ToUtf8(chars));
  return Value::List(std::move(items));
}

Value Arith(const std::string& op, const Value& a, const Value& b) {
  if (a.IsUndefined()) a.FailUndefined();
  if (b.IsUndefined()) b.FailUndefined();
  if (a.IsNumber() && b.IsNumber()) {
    bool fl = a.IsFloat() || b.IsFloat();
    int64_t x = a.AsInt(), y = b.AsInt();
    double fx = a.AsDouble(), fy = b.AsDouble();
    if ((op == "/" || op == "//" || op == "%") && fy == 0) throw Error("division by zero");
    if (op == "+") return fl ? Value(fx + fy) : Value(x + y);
    if (op == "-") return fl ? Value(fx - fy) : Value(x - y);
    if (op == "*") return fl ? Value(fx * fy) : Value(x * y);
    if (op == "/") return Value(fx / fy);
    if (op == "//") {
      if (fl) return Value(std::floor(fx / fy));
      int64_t q = x / y;
      return Value((x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q);
    }
    if (op == "%") {
      if (fl) return Value(fx - std::floor(fx / fy) * fy);
      int64_t r = x % y;
      return Value((r != 0 && ((r < 0) != (y < 0))) ? r + y : r);
    }
    if (op == "**") {
      if (fl || y < 0) return Value(std::pow(fx, fy));
      int64_t r = 1;
      for (int64_t i = 0; i < y; ++i) r *= x;
      return Value(r);
    }
  }
  if (op == "+" && a.IsString() && b.IsString()) return Value(a.AsString() + b.AsString());
  if (op == "+" && a.IsList() && b.IsList()) {
    ValueList items = a.Items();
    items.insert(items.end(), b.Items().begin(), b.Items().end());
    return Value::List(std::move(items));
  }
  if (op == "*" && (a.IsString() || a.IsList()) && (b.IsInt() || b.IsBool())) {
    if (a.IsString()) {
      std::string out;
      for (int64_t i = 0; i < b.AsInt(); ++i) out += a.AsString();
      return Value(out);
    }
    ValueList items;
    for (int64_t i = 0; i < b.AsInt(); ++i) {
      items.insert(items.end(), a.Items().begin(), a.Items().end());
    }
    return Value::List(std::move(items));
  }
  if (op == "+" && a.IsString()) {
    throw Error("can only concatenate str (not \"" + b.TypeName() + "\") to str");
  }
  TypeError(op, a, b);
}

bool Contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined:
      return false;
    case Value::Type::kString:
      if (!item.IsString()) {
        throw Error("'in <string>' requires string as left operand, not " + item.TypeName());
      }
      return container.AsString().find(item.AsString()) != std::string::npos;
    case Value::Type::kList:
      for (const Value& v : container.Items()) {
        if (Equal(v, item)) return true;
      }
      return false;
    case Value::Type::kDict:
      return container.AsDict().Find(item) != nullptr;
    default:
      throw Error("argument of type '" + container.TypeName() + "' is not iterable");
  }
}

ValueList Iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kList:
      return v.Items();
    case Value::Type::kDict: {
      ValueList keys;
      for (const auto& kv : v.AsDict().items) keys.push_back(kv.first);
      return keys;
    }
    case Value::Type::kString: {
      ValueList chars;
      for (char32_t c : ToU32(v.AsString())) chars.emplace_back(ToUtf8(std::u32string(1, c)));
      return chars;
    }
    default:
      throw Error("'" + v.TypeName() + "' object is not iterable");
  }
}

}  // namespace xq::jinja
