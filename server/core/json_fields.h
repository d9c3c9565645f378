// Typed, optional fields of a JSON request object: each getter returns nullopt when the field is
// absent or null and throws a 400 ApiError naming the field when its type or range is wrong.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xq {

// Parses a request body that must be a JSON object (400 otherwise).
nlohmann::json ParseJsonObject(std::string_view body);

std::optional<bool> GetBool(const nlohmann::json& obj, const std::string& key);
std::optional<std::string> GetString(const nlohmann::json& obj, const std::string& key);
// Integers only (a float with an integral value such as 5.0 is accepted), within [lo, hi].
std::optional<int64_t> GetInt(const nlohmann::json& obj, const std::string& key,
                              int64_t lo = INT64_MIN, int64_t hi = INT64_MAX);
std::optional<double> GetNumber(const nlohmann::json& obj, const std::string& key);
// A string or a list of strings.
std::optional<std::vector<std::string>> GetStringOrList(const nlohmann::json& obj,
                                                        const std::string& key);
// A list of token ids within [0, vocab_size).
std::optional<std::vector<int32_t>> GetTokenList(const nlohmann::json& obj, const std::string& key,
                                                 int64_t vocab_size);

// `param` names the field in errors, e.g. "messages[2].content".
std::vector<int32_t> ToTokenList(const nlohmann::json& value, const std::string& param,
                                 int64_t vocab_size);

}  // namespace xq
