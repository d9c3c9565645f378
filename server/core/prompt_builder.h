// PromptBuilder: turns chat messages or a text prompt into the token ids the engine takes, with
// the model's chat template (or an override) and its BOS conventions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/fill_in_middle.h"

namespace xq {

// `override_name_or_file`: a Jinja file or a built-in name (chatml, llama3, ...); empty picks the
// model's own template, falling back to chatml (with a warning) when it has none or it is not
// understood.
ChatTemplate ResolveChatTemplate(const std::string& override_name_or_file,
                                 const TokenizerSpec& spec);

// How a conversation is rendered (the OpenAI-compatible extensions of vLLM's chat API).
struct ChatRender {
  bool add_generation_prompt = true;    // open the assistant's turn after the messages
  bool continue_final_message = false;  // leave the final (assistant) message open: prefill
  nlohmann::json template_kwargs = nlohmann::json::object();  // chat_template_kwargs
  nlohmann::json tools = nullptr;  // the tools offered to the model (null: none)
};

class PromptBuilder {
 public:
  // tokenizer must outlive the builder.
  PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template);

  // Renders the template (with the generation prompt) and tokenizes it, special tokens parsed
  // where the template writes them: control-token text typed in a message's content stays text,
  // so a user cannot forge a turn. Throws a 400 ApiError naming "messages" when the template
  // rejects the conversation.
  // With continue_final_message the text ends right after the final message's content (a 400
  // naming it when the template does not write that content verbatim).
  std::vector<int32_t> Chat(const std::vector<ChatMessage>& messages,
                            const ChatRender& render = {}) const;
  std::string ChatText(const std::vector<ChatMessage>& messages,
                       const ChatRender& render = {}) const;
  // A plain prompt: BOS as the model wants it, special-token text kept as text.
  std::vector<int32_t> Text(std::string_view text, bool add_special = true) const;
  // A fill-in-the-middle prompt: the model writes what goes between prefix and suffix. Throws a
  // 400 ApiError naming "suffix" when the model has no FIM tokens.
  std::vector<int32_t> FillInMiddle(std::string_view prefix, std::string_view suffix) const;

  // A lower bound on the tokens of `bytes` bytes of text, whatever the text: no token spells more
  // than the longest one in the vocabulary. Lets a prompt far beyond the context be refused
  // without spending seconds tokenizing it.
  int64_t MinTokensFor(size_t bytes) const {
    return static_cast<int64_t>((bytes + max_token_bytes_ - 1) / max_token_bytes_);
  }

  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  // The rendered text and the spans of it that are message content spelling control tokens.
  std::string ChatTextWithLiterals(const std::vector<ChatMessage>& messages,
                                   const ChatRender& render, std::vector<TextSpan>& literal) const;

  const Tokenizer* tokenizer_;
  ChatTemplate template_;
  ChatTemplateOptions options_;
  std::optional<FimTokens> fim_;
  size_t max_token_bytes_ = 4;
};

}  // namespace xq
