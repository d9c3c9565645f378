// Python/jinja2 semantics of the operations the interpreter applies to values: attribute and
// item access, slicing, arithmetic, `in`, and the str/dict methods templates call.
#pragma once

#include <optional>
#include <string>

#include "engine/tokenizer/jinja_value.h"

namespace xq::jinja {

// obj.name as jinja2 resolves it: a method, else a dict key; missing gives Undefined.
Value GetAttr(const Value& obj, const std::string& name);
// obj[key]; a missing key or index out of range gives Undefined.
Value GetItem(const Value& obj, const Value& key);
Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// + - * / // % ** with Python's typing rules; throws xq::Error on a type mismatch.
Value Arith(const std::string& op, const Value& a, const Value& b);
bool Contains(const Value& container, const Value& item);
// The elements a for loop or filter iterates: a list's items, a dict's keys, a string's chars.
ValueList Iterate(const Value& v);

// Python str helpers shared with the filters.
std::string Strip(const std::string& s, const std::optional<std::string>& chars, bool left,
                  bool right);
std::string Upper(std::string s);
std::string Lower(std::string s);
std::string Replace(const std::string& s, const std::string& old, const std::string& with,
                    int64_t count);

}  // namespace xq::jinja
