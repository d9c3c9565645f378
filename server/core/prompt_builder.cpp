#include "server/core/prompt_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "engine/common/error.h"
#include "server/core/api_error.h"

namespace xq {

ChatTemplate ResolveChatTemplate(const std::string& override_name_or_file,
                                 const TokenizerSpec& spec) {
  if (!override_name_or_file.empty()) {
    std::ifstream file(override_name_or_file);
    if (file) {
      std::stringstream text;
      text << file.rdbuf();
      return ChatTemplate(text.str());
    }
    // A path that is not there is a missing file, not an unknown built-in name.
    if (override_name_or_file.find_first_of("/.") != std::string::npos) {
      throw Error("--chat-template: cannot open the file '" + override_name_or_file + "'");
    }
    return ChatTemplate(ChatTemplate::BuiltinSource(override_name_or_file));
  }
  if (spec.chat_template.empty()) {
    spdlog::warn("the model has no chat template; using chatml (choose with --chat-template)");
    return ChatTemplate(ChatTemplate::BuiltinSource("chatml"));
  }
  try {
    return ChatTemplate(spec.chat_template);
  } catch (const Error& e) {
    spdlog::warn(
        "the model's chat template is not understood ({}); using chatml instead "
        "(choose with --chat-template)",
        e.what());
    return ChatTemplate(ChatTemplate::BuiltinSource("chatml"));
  }
}

PromptBuilder::PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template)
    : tokenizer_(&tokenizer), template_(std::move(chat_template)) {
  const TokenizerSpec& spec = tokenizer.spec();
  if (spec.bos_id) options_.bos_token = tokenizer.TokenBytes(*spec.bos_id);
  if (spec.eos_id) options_.eos_token = tokenizer.TokenBytes(*spec.eos_id);
  fim_ = FindFimTokens(spec);
  // At least 4: an unknown character (up to 4 UTF-8 bytes) may become one token that spells less.
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    max_token_bytes_ = std::max(max_token_bytes_, tokenizer.TokenBytes(id).size());
  }
}

std::string PromptBuilder::ChatText(const std::vector<ChatMessage>& messages,
                                    const ChatRender& render) const {
  ChatTemplateOptions options = options_;
  options.add_generation_prompt = render.add_generation_prompt && !render.continue_final_message;
  options.extra = render.template_kwargs;
  options.tools = render.tools;
  std::string text;
  try {
    text = template_.Apply(messages, options);
  } catch (const Error& e) {
    throw InvalidRequestError("messages",
                              std::string("the chat template rejected them: ") + e.what());
  }
  if (!render.continue_final_message || messages.empty()) return text;
  // Cut what the template writes after the final message (its end-of-turn), as vLLM does.
  const std::string& content = messages.back().content;
  const size_t at = content.empty() ? std::string::npos : text.rfind(content);
  if (at == std::string::npos) {
    throw InvalidRequestError(
        "continue_final_message",
        "the chat template does not write the final message's content verbatim");
  }
  text.resize(at + content.size());
  return text;
}

std::string PromptBuilder::ChatTextWithLiterals(const std::vector<ChatMessage>& messages,
                                                const ChatRender& render,
                                                std::vector<TextSpan>& literal) const {
  // Content that spells a control token goes through the template as a marker (private-use
  // characters no template touches), then comes back as text with its span recorded.
  std::vector<ChatMessage> marked = messages;
  std::vector<std::pair<std::string, size_t>> markers;  // marker, message index
  for (size_t i = 0; i < messages.size(); ++i) {
    if (tokenizer_->FindControlText(messages[i].content).empty()) continue;
    markers.emplace_back("\xEE\x80\x80" "xq-content-" + std::to_string(i) + "\xEE\x80\x81", i);
    marked[i].content = markers.back().first;
  }
  if (markers.empty()) return ChatText(messages, render);
  const std::string text = ChatText(marked, render);
  std::vector<std::pair<size_t, size_t>> found;  // position in text, index in markers
  for (size_t k = 0; k < markers.size(); ++k) {
    const auto& [marker, i] = markers[k];
    const size_t at = text.find(marker);
    if (at == std::string::npos || text.find(marker, at + 1) != std::string::npos) {
      throw InvalidRequestError(
          "messages[" + std::to_string(i) + "].content",
          "contains the control token '" + tokenizer_->FindControlText(messages[i].content) +
              "' as text, which this chat template does not write verbatim");
    }
    found.emplace_back(at, k);
  }
  std::sort(found.begin(), found.end());
  std::string out;
  size_t pos = 0;
  for (const auto& [at, k] : found) {
    const auto& [marker, i] = markers[k];
    out.append(text, pos, at - pos);
    literal.push_back({out.size(), out.size() + messages[i].content.size()});
    out += messages[i].content;
    pos = at + marker.size();
  }
  out.append(text, pos);
  return out;
}

std::vector<int32_t> PromptBuilder::Chat(const std::vector<ChatMessage>& messages,
                                         const ChatRender& render) const {
  std::vector<TextSpan> literal;
  const std::string text = ChatTextWithLiterals(messages, render, literal);
  // Templates usually write BOS themselves; don't add a second one.
  const bool has_bos = !options_.bos_token.empty() && text.starts_with(options_.bos_token);
  return tokenizer_->Encode(text, /*add_special=*/!has_bos, literal);
}

std::vector<int32_t> PromptBuilder::Text(std::string_view text, bool add_special) const {
  return tokenizer_->Encode(text, add_special, /*parse_special=*/false);
}

std::vector<int32_t> PromptBuilder::FillInMiddle(std::string_view prefix,
                                                 std::string_view suffix) const {
  if (!fim_) {
    throw InvalidRequestError("suffix",
                              "this model has no fill-in-the-middle tokens, so it cannot "
                              "complete text before a suffix");
  }
  std::vector<int32_t> ids = Text("", /*add_special=*/true);  // BOS, when the model wants one
  const auto append = [&ids](const std::vector<int32_t>& more) {
    ids.insert(ids.end(), more.begin(), more.end());
  };
  ids.push_back(fim_->prefix);
  append(Text(prefix, false));
  ids.push_back(fim_->suffix);
  append(Text(suffix, false));
  ids.push_back(fim_->middle);
  return ids;
}

}  // namespace xq
