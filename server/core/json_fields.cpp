#include "server/core/json_fields.h"

#include <cmath>

#include "server/core/api_error.h"

namespace xq {
namespace {

const nlohmann::json* Find(const nlohmann::json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string TypeName(const nlohmann::json& v) { return v.type_name(); }

}  // namespace

nlohmann::json ParseJsonObject(std::string_view body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw ApiError(400, "invalid_request_error",
                   std::string("the request body is not valid JSON: ") + e.what(), "",
                   "invalid_json");
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond a double (1e309): the parser's own message would echo the whole literal.
    throw ApiError(400, "invalid_request_error",
                   "the request body has a number too large to represent", "", "invalid_json");
  }
  if (!j.is_object()) {
    throw ApiError(400, "invalid_request_error",
                   "the request body must be a JSON object, got " + TypeName(j), "",
                   "invalid_json");
  }
  return j;
}

std::optional<bool> GetBool(const nlohmann::json& obj, const std::string& key) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw InvalidRequestError(key, "must be a boolean, got " + TypeName(*v));
  return v->get<bool>();
}

std::optional<std::string> GetString(const nlohmann::json& obj, const std::string& key) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw InvalidRequestError(key, "must be a string, got " + TypeName(*v));
  return v->get<std::string>();
}

std::optional<int64_t> GetInt(const nlohmann::json& obj, const std::string& key, int64_t lo,
                              int64_t hi) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  auto out_of_range = [&] {
    return InvalidRequestError(
        key, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) throw out_of_range();
    return static_cast<int64_t>(u);
  }
  int64_t value;
  if (v->is_number_integer()) {
    value = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) {
      throw InvalidRequestError(key, "must be an integer, got " + v->dump());
    }
    // double(INT64_MAX) rounds up to 2^63, which int64 cannot hold: that bound is checked exactly,
    // and any other rounding of lo / hi by the integer check below.
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi) || d >= 0x1p63) {
      throw out_of_range();
    }
    value = static_cast<int64_t>(d);
  } else {
    throw InvalidRequestError(key, "must be an integer, got " + TypeName(*v));
  }
  if (value < lo || value > hi) throw out_of_range();
  return value;
}

std::optional<double> GetNumber(const nlohmann::json& obj, const std::string& key) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw InvalidRequestError(key, "must be a number, got " + TypeName(*v));
  return v->get<double>();
}

std::optional<std::vector<std::string>> GetStringOrList(const nlohmann::json& obj,
                                                        const std::string& key) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
  if (!v->is_array()) {
    throw InvalidRequestError(key, "must be a string or a list of strings, got " + TypeName(*v));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) {
      throw InvalidRequestError(key + "[" + std::to_string(i) + "]",
                                "must be a string, got " + TypeName(item));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<int32_t> ToTokenList(const nlohmann::json& value, const std::string& param,
                                 int64_t vocab_size) {
  if (!value.is_array()) {
    throw InvalidRequestError(param, "must be a list of token ids, got " + TypeName(value));
  }
  std::vector<int32_t> out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const auto& item = value[i];
    const std::string name = param + "[" + std::to_string(i) + "]";
    if (!item.is_number_integer()) {
      throw InvalidRequestError(name, "must be an integer token id, got " + TypeName(item));
    }
    const int64_t id = item.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      throw InvalidRequestError(name, "token id " + std::to_string(id) +
                                          " is outside the vocabulary [0, " +
                                          std::to_string(vocab_size) + ")");
    }
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

std::optional<std::vector<int32_t>> GetTokenList(const nlohmann::json& obj, const std::string& key,
                                                 int64_t vocab_size) {
  const auto* v = Find(obj, key);
  if (!v) return std::nullopt;
  return ToTokenList(*v, key, vocab_size);
}

}  // namespace xq
