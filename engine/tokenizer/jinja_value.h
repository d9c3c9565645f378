// jinja::Value: the dynamically typed value of the chat-template interpreter, with Python's
// semantics for truth, equality, str() and repr(), since templates are written against jinja2.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace xq::jinja {

class Value;
using ValueList = std::vector<Value>;

struct Dict;
struct Args;
using Func = std::function<Value(Args&)>;

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunc };

  Value() = default;  // undefined
  Value(bool b) : type_(Type::kBool), int_(b) {}
  Value(int v) : type_(Type::kInt), int_(v) {}
  Value(int64_t v) : type_(Type::kInt), int_(v) {}
  Value(double v) : type_(Type::kFloat), float_(v) {}
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}
  Value(const char* s) : type_(Type::kString), str_(s) {}

  // `hint` says why it is undefined ("'x' is undefined"), reported if it is then misused.
  static Value Undefined(std::string hint);
  static Value None();
  static Value List(ValueList items = {}, bool tuple = false);
  static Value MakeDict(bool is_namespace = false);
  static Value Function(std::string name, Func fn);

  Type type() const { return type_; }
  bool IsUndefined() const { return type_ == Type::kUndefined; }
  bool IsNone() const { return type_ == Type::kNone; }
  bool IsBool() const { return type_ == Type::kBool; }
  bool IsInt() const { return type_ == Type::kInt; }
  bool IsFloat() const { return type_ == Type::kFloat; }
  bool IsNumber() const { return IsInt() || IsFloat() || IsBool(); }
  bool IsString() const { return type_ == Type::kString; }
  bool IsList() const { return type_ == Type::kList; }
  bool IsTuple() const { return IsList() && tuple_; }
  bool IsDict() const { return type_ == Type::kDict; }
  bool IsNamespace() const;
  bool IsFunc() const { return type_ == Type::kFunc; }

  bool AsBool() const { return int_ != 0; }
  int64_t AsInt() const { return int_; }  // bool or int
  double AsDouble() const { return IsFloat() ? float_ : static_cast<double>(int_); }
  const std::string& AsString() const { return str_; }
  const std::string& UndefinedHint() const { return str_; }
  ValueList& Items() const { return *list_; }
  Dict& AsDict() const { return *dict_; }
  const std::string& FuncName() const { return str_; }
  Value Call(Args& args) const;

  bool Truthy() const;
  std::string Str() const;   // Python str()
  std::string Repr() const;  // Python repr()
  std::string TypeName() const;

  // Throws xq::Error with the undefined's hint; used where jinja2 raises UndefinedError.
  [[noreturn]] void FailUndefined() const;

 private:
  Type type_ = Type::kUndefined;
  bool tuple_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Func> func_;
};

// Insertion-ordered like Python's dict; chat-template dicts are small, so lookup is linear.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  bool is_namespace = false;

  const Value* Find(const Value& key) const;
  void Set(const Value& key, Value value);
};

struct Args {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `index` or named `name`, else `fallback`; throws on too many positionals.
  Value Get(size_t index, const std::string& name, Value fallback = Value()) const;
  void Expect(const std::string& fn, size_t max_positional) const;
};

bool Equal(const Value& a, const Value& b);
// Python's <; throws xq::Error for types that do not order.
bool Less(const Value& a, const Value& b);

// Python's json.dumps(x, ensure_ascii=False, indent, separators, sort_keys) as transformers'
// tojson filter calls it.
std::string ToJson(const Value& v, int indent, const std::string& item_sep,
                   const std::string& key_sep, bool sort_keys);

std::string FormatFloat(double v);  // Python repr(float)

// Code-point view of UTF-8, because Python indexes and measures strings by code point.
std::u32string ToU32(const std::string& s);
std::string ToUtf8(const std::u32string& s);

}  // namespace xq::jinja
