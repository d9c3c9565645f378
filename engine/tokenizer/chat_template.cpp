#include "engine/tokenizer/chat_template.h"

#include <algorithm>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_eval.h"
#include "engine/tokenizer/jinja_lexer.h"
#include "engine/tokenizer/jinja_parser.h"

namespace xq {

struct ChatTemplate::Impl {
  jinja::Body body;
};

ChatTemplate::ChatTemplate(std::string source) : impl_(std::make_unique<Impl>()) {
  try {
    impl_->body = jinja::Parse(jinja::Lex(jinja::NormalizeSource(source)));
  } catch (const Error& e) {
    throw Error(std::string("chat template: syntax error at ") + e.what());
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

namespace {

jinja::Value FromJson(const nlohmann::json& j) {
  using jinja::Value;
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return Value(j.get<int64_t>());
    case nlohmann::json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      jinja::ValueList items;
      for (const auto& item : j) items.push_back(FromJson(item));
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value dict = Value::MakeDict();
      for (const auto& [key, value] : j.items()) dict.AsDict().Set(key, FromJson(value));
      return dict;
    }
    default:
      return Value::None();
  }
}

}  // namespace

std::string ChatTemplate::Apply(const std::vector<ChatMessage>& messages,
                                const ChatTemplateOptions& options) const {
  using jinja::Value;
  jinja::ValueList list;
  for (const ChatMessage& m : messages) {
    Value msg = Value::MakeDict();
    msg.AsDict().Set("role", Value(m.role));
    msg.AsDict().Set("content", Value(m.content));
    if (!m.tool_calls.is_null()) msg.AsDict().Set("tool_calls", FromJson(m.tool_calls));
    if (!m.tool_call_id.empty()) msg.AsDict().Set("tool_call_id", Value(m.tool_call_id));
    if (!m.name.empty()) msg.AsDict().Set("name", Value(m.name));
    list.push_back(std::move(msg));
  }
  const std::time_t now = options.now ? options.now : std::time(nullptr);
  // The same arguments and globals transformers' apply_chat_template provides.
  jinja::Variables vars = {
      {"messages", Value::List(std::move(list))},
      {"add_generation_prompt", Value(options.add_generation_prompt)},
      {"bos_token", Value(options.bos_token)},
      {"eos_token", Value(options.eos_token)},
      {"tools", options.tools.is_null() ? Value::None() : FromJson(options.tools)},
      {"documents", Value::None()},
      {"raise_exception", Value::Function("raise_exception",
                                          [](jinja::Args& a) -> Value {
                                            throw Error("raise_exception: " +
                                                        a.Get(0, "message").Str());
                                          })},
      {"strftime_now", Value::Function("strftime_now",
                                       [now](jinja::Args& a) {
                                         std::tm tm{};
                                         localtime_r(&now, &tm);
                                         char buf[256];
                                         std::string fmt = a.Get(0, "format").Str();
                                         size_t n =
                                             std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
                                         return Value(std::string(buf, n));
                                       })},
  };
  if (options.extra.is_object()) {
    for (const auto& item : options.extra.items()) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      const std::string& key = item.key();
      const nlohmann::json& value = item.value();
      if (key == "messages") throw Error("chat template: extra variables cannot replace messages");
      auto it =
          std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == key; });
      if (it != vars.end()) {
        it->second = FromJson(value);
      } else {
        vars.emplace_back(key, FromJson(value));
      }
    }
  }
  try {
    return jinja::Render(impl_->body, vars);
  } catch (const Error& e) {
    throw Error(std::string("chat template: ") + e.what());
  }
}

}  // namespace xq
