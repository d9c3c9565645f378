// PromptBuilder: turns chat messages or a text prompt into the token ids the engine takes, with
// the model's chat template (or an override) and its BOS conventions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {

// `override_name_or_file`: a Jinja file or a built-in name (chatml, llama3, ...); empty picks the
// model's own template, falling back to chatml (with a warning) when it has none or it is not
// understood.
ChatTemplate ResolveChatTemplate(const std::string& override_name_or_file,
                                 const TokenizerSpec& spec);

class PromptBuilder {
 public:
  // tokenizer must outlive the builder.
  PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template);

  // Renders the template (with the generation prompt) and tokenizes it, special tokens parsed.
  // Throws a 400 ApiError naming "messages" when the template rejects the conversation.
  std::vector<int32_t> Chat(const std::vector<ChatMessage>& messages) const;
  std::string ChatText(const std::vector<ChatMessage>& messages) const;
  // A plain prompt: BOS as the model wants it, special-token text kept as text.
  std::vector<int32_t> Text(std::string_view text, bool add_special = true) const;

  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  const Tokenizer* tokenizer_;
  ChatTemplate template_;
  ChatTemplateOptions options_;
};

}  // namespace xq
