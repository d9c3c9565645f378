#include "engine/tokenizer/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/common/error.h"

namespace xq::jinja {

Value Value::Undefined(std::string hint) {
  Value v;
  v.str_ = std::move(hint);
  return v;
}

Value Value::None() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

Value Value::List(ValueList items, bool tuple) {
  Value v;
  v.type_ = Type::kList;
  v.tuple_ = tuple;
  v.list_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::MakeDict(bool is_namespace) {
  Value v;
  v.type_ = Type::kDict;
  v.dict_ = std::make_shared<Dict>();
  v.dict_->is_namespace = is_namespace;
  return v;
}

Value Value::Function(std::string name, Func fn) {
  Value v;
  v.type_ = Type::kFunc;
  v.str_ = std::move(name);
  v.func_ = std::make_shared<Func>(std::move(fn));
  return v;
}

bool Value::IsNamespace() const { return IsDict() && dict_->is_namespace; }

Value Value::Call(Args& args) const { return (*func_)(args); }

void Value::FailUndefined() const {
  throw Error(str_.empty() ? std::string("value is undefined") : str_);
}

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
    case Type::kInt:
      return int_ != 0;
    case Type::kFloat:
      return float_ != 0;
    case Type::kString:
      return !str_.empty();
    case Type::kList:
      return !list_->empty();
    case Type::kDict:
      return dict_->is_namespace || !dict_->items.empty();  // a namespace is an object
    case Type::kFunc:
      return true;
  }
  return false;
}

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  double mag = std::fabs(v);
  bool fixed = mag == 0 || (mag >= 1e-4 && mag < 1e16);
  auto res = std::to_chars(buf, buf + sizeof(buf), v,
                           fixed ? std::chars_format::fixed : std::chars_format::scientific);
  std::string s(buf, res.ptr);
  if (fixed && s.find('.') == std::string::npos) s += ".0";
  return s;
}

namespace {

std::string ReprString(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += quote;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

void JsonString(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// json.dumps turns scalar keys into strings.
std::string JsonKey(const Value& k) {
  switch (k.type()) {
    case Value::Type::kString:
      return k.AsString();
    case Value::Type::kNone:
      return "null";
    case Value::Type::kBool:
      return k.AsBool() ? "true" : "false";
    case Value::Type::kInt:
    case Value::Type::kFloat:
      return k.Repr();
    default:
      throw Error("keys must be str, int, float, bool or None, not " + k.TypeName());
  }
}

struct JsonWriter {
  int indent;
  std::string item_sep, key_sep;
  bool sort_keys;
  std::string out;

  void Newline(int depth) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * depth), ' ');
  }

  void Write(const Value& v, int depth) {
    switch (v.type()) {
      case Value::Type::kNone:
        out += "null";
        return;
      case Value::Type::kBool:
        out += v.AsBool() ? "true" : "false";
        return;
      case Value::Type::kInt:
        out += std::to_string(v.AsInt());
        return;
      case Value::Type::kFloat: {
        double d = v.AsDouble();
        out += std::isnan(d)   ? "NaN"
               : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                               : FormatFloat(d);
        return;
      }
      case Value::Type::kString:
        JsonString(v.AsString(), out);
        return;
      case Value::Type::kList: {
        const ValueList& items = v.Items();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          Newline(depth + 1);
          Write(items[i], depth + 1);
        }
        Newline(depth);
        out += ']';
        return;
      }
      case Value::Type::kDict: {
        auto items = v.AsDict().items;
        if (items.empty()) {
          out += "{}";
          return;
        }
        if (sort_keys) {
          std::stable_sort(items.begin(), items.end(),
                           [](const auto& a, const auto& b) { return Less(a.first, b.first); });
        }
        out += '{';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          Newline(depth + 1);
          JsonString(JsonKey(items[i].first), out);
          out += key_sep;
          Write(items[i].second, depth + 1);
        }
        Newline(depth);
        out += '}';
        return;
      }
      case Value::Type::kUndefined:
      case Value::Type::kFunc:
        throw Error("Object of type " + v.TypeName() + " is not JSON serializable");
    }
  }
};

}  // namespace

std::string Value::Str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kString:
      return str_;
    default:
      return Repr();
  }
}

std::string Value::Repr() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return int_ ? "True" : "False";
    case Type::kInt:
      return std::to_string(int_);
    case Type::kFloat:
      return FormatFloat(float_);
    case Type::kString:
      return ReprString(str_);
    case Type::kList: {
      std::string out(1, tuple_ ? '(' : '[');
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].Repr();
      }
      if (tuple_ && list_->size() == 1) out += ',';
      out += tuple_ ? ')' : ']';
      return out;
    }
    case Type::kDict: {
      if (dict_->is_namespace) return "<Namespace>";
      std::string out = "{";
      for (size_t i = 0; i < dict_->items.size(); ++i) {
        if (i) out += ", ";
        out += dict_->items[i].first.Repr() + ": " + dict_->items[i].second.Repr();
      }
      return out + "}";
    }
    case Type::kFunc:
      return "<function " + str_ + ">";
  }
  return "";
}

std::string Value::TypeName() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return tuple_ ? "tuple" : "list";
    case Type::kDict:
      return dict_->is_namespace ? "Namespace" : "dict";
    case Type::kFunc:
      return "function";
  }
  return "?";
}

const Value* Dict::Find(const Value& key) const {
  for (const auto& [k, v] : items) {
    if (Equal(k, key)) return &v;
  }
  return nullptr;
}

void Dict::Set(const Value& key, Value value) {
  for (auto& [k, v] : items) {
    if (Equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

Value Args::Get(size_t index, const std::string& name, Value fallback) const {
  if (index < positional.size()) return positional[index];
  for (const auto& [k, v] : keyword) {
    if (k == name) return v;
  }
  return fallback;
}

void Args::Expect(const std::string& fn, size_t max_positional) const {
  if (positional.size() > max_positional) {
    throw Error(fn + "() takes at most " + std::to_string(max_positional) + " arguments (" +
                std::to_string(positional.size()) + " given)");
  }
}

bool Equal(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsFloat() || b.IsFloat()) return a.AsDouble() == b.AsDouble();
    return a.AsInt() == b.AsInt();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.AsString() == b.AsString();
    case Value::Type::kList: {
      const ValueList &x = a.Items(), &y = b.Items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Type::kDict: {
      const Dict &x = a.AsDict(), &y = b.AsDict();
      if (&x == &y) return true;
      if (x.is_namespace || y.is_namespace || x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* other = y.Find(k);
        if (!other || !Equal(v, *other)) return false;
      }
      return true;
    }
    case Value::Type::kFunc:
      return a.FuncName() == b.FuncName();
    default:
      return false;
  }
}

bool Less(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsFloat() || b.IsFloat()) return a.AsDouble() < b.AsDouble();
    return a.AsInt() < b.AsInt();
  }
  if (a.IsString() && b.IsString()) return a.AsString() < b.AsString();
  if (a.IsList() && b.IsList()) {
    const ValueList &x = a.Items(), &y = b.Items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Less(x[i], y[i])) return true;
      if (Less(y[i], x[i])) return false;
    }
    return x.size() < y.size();
  }
  if (a.IsUndefined()) a.FailUndefined();
  if (b.IsUndefined()) b.FailUndefined();
  throw Error("'<' not supported between instances of '" + a.TypeName() + "' and '" + b.TypeName() +
              "'");
}

std::string ToJson(const Value& v, int indent, const std::string& item_sep,
                   const std::string& key_sep, bool sort_keys) {
  JsonWriter w{indent, item_sep, key_sep, sort_keys, {}};
  w.Write(v, 0);
  return std::move(w.out);
}

std::u32string ToU32(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + len > s.size()) len = 1;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out += cp;
    i += len;
  }
  return out;
}

std::string ToUtf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

}  // namespace xq::jinja
