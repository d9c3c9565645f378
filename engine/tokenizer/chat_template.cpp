#include "engine/tokenizer/chat_template.h"

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

std::string ChatTemplate::Apply(const std::vector<ChatMessage>& messages,
                                const ChatTemplateOptions& options) const {
  using jinja::Value;
  jinja::ValueList list;
  for (const ChatMessage& m : messages) {
    Value msg = Value::MakeDict();
    msg.AsDict().Set("role", Value(m.role));
    msg.AsDict().Set("content", Value(m.content));
    list.push_back(std::move(msg));
  }
  const std::time_t now = options.now ? options.now : std::time(nullptr);
  // The same arguments and globals transformers' apply_chat_template provides.
  jinja::Variables vars = {
      {"messages", Value::List(std::move(list))},
      {"add_generation_prompt", Value(options.add_generation_prompt)},
      {"bos_token", Value(options.bos_token)},
      {"eos_token", Value(options.eos_token)},
      {"tools", Value::None()},
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
  try {
    return jinja::Render(impl_->body, vars);
  } catch (const Error& e) {
    throw Error(std::string("chat template: ") + e.what());
  }
}

}  // namespace xq
