#include "server/core/tool_call_parser.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <random>

namespace xq {
namespace {

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kMistralMarker = "[TOOL_CALLS]";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kLlamaStart = "{\"name\"";

std::string CallId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// {"name": ..., "arguments" | "parameters": {...} or a JSON string of one}.
std::optional<ToolCall> CallFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return std::nullopt;
  nlohmann::json args = j.contains("arguments") ? j["arguments"] : j.value("parameters", nlohmann::json::object());
  if (args.is_string()) args = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
  if (!args.is_object()) return std::nullopt;
  return ToolCall{CallId(), j["name"].get<std::string>(), args.dump()};
}

std::optional<std::vector<ToolCall>> HermesCalls(std::string_view rest) {
  std::vector<ToolCall> calls;
  while (!(rest = Trim(rest)).empty()) {
    if (!rest.starts_with(kHermesOpen)) return std::nullopt;
    rest.remove_prefix(kHermesOpen.size());
    const size_t close = rest.find(kHermesClose);
    auto call = CallFromJson(nlohmann::json::parse(Trim(rest.substr(0, close)), nullptr, false));
    if (!call) return std::nullopt;
    calls.push_back(std::move(*call));
    rest = close == std::string_view::npos ? std::string_view() : rest.substr(close + kHermesClose.size());
  }
  return calls;
}

// One or more objects separated by ';' (Llama 3.1's JSON tool calling), or Mistral's array.
std::optional<std::vector<ToolCall>> JsonCalls(std::string_view rest) {
  rest = Trim(rest);
  nlohmann::json whole = nlohmann::json::parse(rest, nullptr, false);
  std::vector<nlohmann::json> items;
  if (whole.is_array()) {
    items.assign(whole.begin(), whole.end());
  } else if (whole.is_object()) {
    items.push_back(whole);
  } else {
    for (size_t begin = 0; begin < rest.size();) {
      size_t end = rest.find(';', begin);
      if (end == std::string_view::npos) end = rest.size();
      items.push_back(nlohmann::json::parse(Trim(rest.substr(begin, end - begin)), nullptr, false));
      begin = end + 1;
    }
  }
  std::vector<ToolCall> calls;
  for (const nlohmann::json& item : items) {
    auto call = CallFromJson(item);
    if (!call) return std::nullopt;
    calls.push_back(std::move(*call));
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

// Where the calls start in `text` (npos: nowhere), and how far to skip the marker.
std::pair<size_t, size_t> FindMarker(ToolCallFormat format, std::string_view text) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return {text.find(kHermesOpen), 0};
    case ToolCallFormat::kMistral: {
      const size_t at = text.find(kMistralMarker);
      return {at, kMistralMarker.size()};
    }
    case ToolCallFormat::kLlama3Json: {
      const size_t tag = text.find(kPythonTag);
      if (tag != std::string_view::npos) return {tag, kPythonTag.size()};
      return {text.find(kLlamaStart), 0};
    }
  }
  return {std::string_view::npos, 0};
}

// How many trailing characters of `text` could begin a marker still being written.
size_t PartialMarkerLength(ToolCallFormat format, std::string_view text) {
  std::vector<std::string_view> markers;
  if (format == ToolCallFormat::kHermes) markers = {kHermesOpen};
  if (format == ToolCallFormat::kMistral) markers = {kMistralMarker};
  if (format == ToolCallFormat::kLlama3Json) markers = {kPythonTag, kLlamaStart};
  size_t longest = 0;
  for (std::string_view m : markers) {
    for (size_t n = std::min(m.size() - 1, text.size()); n > longest; --n) {
      if (text.substr(text.size() - n) == m.substr(0, n)) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

}  // namespace

ToolCallOutput ParseToolCalls(ToolCallFormat format, std::string_view text) {
  const auto [at, skip] = FindMarker(format, text);
  if (at == std::string_view::npos) return {std::string(text), {}};
  const std::string_view rest = text.substr(at + skip);
  auto calls = format == ToolCallFormat::kHermes ? HermesCalls(rest) : JsonCalls(rest);
  if (!calls) return {std::string(text), {}};
  return {std::string(Trim(text.substr(0, at))), std::move(*calls)};
}

std::string ToolCallStream::Push(std::string_view text) {
  held_ += text;
  if (in_call_) return "";
  const auto [at, skip] = FindMarker(format_, held_);
  std::string out;
  if (at != std::string::npos) {
    in_call_ = true;
    out = held_.substr(0, at);
    held_.erase(0, at);
  } else {
    const size_t keep = PartialMarkerLength(format_, held_);
    out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
  }
  return out;
}

ToolCallOutput ToolCallStream::Finish() {
  ToolCallOutput out = in_call_ ? ParseToolCalls(format_, held_) : ToolCallOutput{held_, {}};
  held_.clear();
  return out;
}

}  // namespace xq
