// ChatTemplate: renders chat messages into a prompt with the model's own Jinja chat template
// (tokenizer.chat_template), interpreting the Jinja subset that real templates use.
#pragma once

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xq {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  // An assistant's calls, in OpenAI's shape with each call's arguments as an object, as
  // templates write them (null when none).
  nlohmann::json tool_calls = nullptr;
  std::string tool_call_id;  // a tool result: the call it answers
  std::string name;          // a tool result: the function's name
};

// A plain message: a role and its text.
inline ChatMessage TextMessage(std::string role, std::string content) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // The instant strftime_now() formats (in local time, as transformers does); 0 is now.
  std::time_t now = 0;
  // More template variables (a JSON object), e.g. {"enable_thinking": false}; they may override
  // every variable but messages.
  nlohmann::json extra = nlohmann::json::object();
  // The tools the model may call (OpenAI's list of {"type": "function", "function": ...}); null
  // renders as none.
  nlohmann::json tools = nullptr;
};

class ChatTemplate {
 public:
  // Parses the template; throws xq::Error with the position on a syntax error or an
  // unsupported construct.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  std::string Apply(const std::vector<ChatMessage>& messages,
                    const ChatTemplateOptions& options) const;

  // Built-in templates for known families, used by --chat-template NAME and as the fallback
  // when a model has none: "chatml", "llama2", "llama3", "mistral", "qwen2", "gemma", "phi3".
  static std::string BuiltinSource(const std::string& name);  // throws on unknown name

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xq
