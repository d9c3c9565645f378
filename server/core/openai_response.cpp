#include "server/core/openai_response.h"

#include <cmath>

#include "server/core/api_error.h"

namespace xq {

void ChoiceResult::Append(const SequenceDelta& delta) {
  text += delta.text;
  tokens.insert(tokens.end(), delta.tokens.begin(), delta.tokens.end());
  if (delta.finish != FinishKind::kNone) {
    finish = delta.finish;
    stop_reason = delta.stop_reason;
  }
}

nlohmann::json FinishReasonJson(FinishKind kind) {
  switch (kind) {
    case FinishKind::kNone:
      return nullptr;
    case FinishKind::kStop:
      return "stop";
    case FinishKind::kLength:
      return "length";
    case FinishKind::kAbort:
      return "abort";
    case FinishKind::kError:
      return "error";
  }
  return nullptr;
}

nlohmann::json UsageJson(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

std::string SseData(const nlohmann::json& j) { return "data: " + DumpJson(j) + "\n\n"; }

ResponseFormatter::ResponseFormatter(ApiKind kind, std::string id, std::string model,
                                     int64_t created, const Tokenizer& tokenizer,
                                     const SamplingParams& params)
    : kind_(kind),
      id_(std::move(id)),
      model_(std::move(model)),
      created_(created),
      tokenizer_(&tokenizer),
      logprobs_(params.logprobs),
      stream_offsets_(static_cast<size_t>(std::max(params.n, 1)), 0) {}

namespace {

nlohmann::json ToolCallsJson(const std::vector<ToolCall>& calls, bool with_index) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    nlohmann::json call = {{"id", calls[i].id},
                           {"type", "function"},
                           {"function",
                            {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) call["index"] = i;
    list.push_back(std::move(call));
  }
  return list;
}

}  // namespace

void ResponseFormatter::set_tool_calls(ToolCallFormat format) {
  tool_format_ = format;
  tool_streams_.assign(stream_offsets_.size(), ToolCallStream(format));
}

bool ResponseFormatter::ToolCallDelta(const SequenceDelta& delta, nlohmann::json& d) {
  const size_t i =
      std::min(static_cast<size_t>(std::max(delta.index, 0)), tool_streams_.size() - 1);
  std::string content = tool_streams_[i].Push(delta.text);
  std::vector<ToolCall> calls;
  if (delta.finish != FinishKind::kNone) {
    ToolCallOutput rest = tool_streams_[i].Finish();
    content += rest.content;
    calls = std::move(rest.calls);
  }
  if (!content.empty() || delta.finish == FinishKind::kNone) d["content"] = content;
  if (!calls.empty()) d["tool_calls"] = ToolCallsJson(calls, /*with_index=*/true);
  return !calls.empty();
}

nlohmann::json ResponseFormatter::TokenEntry(int32_t token, float logprob) const {
  const std::string bytes = tokenizer_->TokenBytes(token);
  nlohmann::json byte_list = nlohmann::json::array();
  for (unsigned char c : bytes) byte_list.push_back(static_cast<int>(c));
  return {{"token", bytes}, {"logprob", logprob}, {"bytes", byte_list}};
}

nlohmann::json ResponseFormatter::ChatLogprobs(const std::vector<TokenOutput>& tokens) const {
  nlohmann::json content = nlohmann::json::array();
  for (const TokenOutput& t : tokens) {
    nlohmann::json entry = TokenEntry(t.token, t.logprob);
    nlohmann::json top = nlohmann::json::array();
    for (const TokenLogprob& alt : t.top_logprobs)
      top.push_back(TokenEntry(alt.token, alt.logprob));
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return {{"content", std::move(content)}};
}

nlohmann::json ResponseFormatter::CompletionLogprobs(const std::vector<TokenOutput>& tokens,
                                                     size_t& offset) const {
  nlohmann::json strings = nlohmann::json::array(), logprobs = nlohmann::json::array(),
                 tops = nlohmann::json::array(), offsets = nlohmann::json::array();
  for (const TokenOutput& t : tokens) {
    const std::string bytes = tokenizer_->TokenBytes(t.token);
    strings.push_back(bytes);
    if (std::isnan(t.logprob)) {  // the first prompt token: nothing before it to predict it
      logprobs.push_back(nullptr);
      tops.push_back(nullptr);
    } else {
      logprobs.push_back(t.logprob);
      nlohmann::json top = nlohmann::json::object();
      for (const TokenLogprob& alt : t.top_logprobs) {
        top[tokenizer_->TokenBytes(alt.token)] = alt.logprob;
      }
      // As OpenAI's completions do, the chosen token is listed too (N + 1 entries at most).
      if (!top.contains(bytes)) top[bytes] = t.logprob;
      tops.push_back(std::move(top));
    }
    offsets.push_back(offset);
    offset += bytes.size();
  }
  return {{"tokens", std::move(strings)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

nlohmann::json ResponseFormatter::Final(const std::vector<ChoiceResult>& choices,
                                        const Usage& usage) const {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    nlohmann::json choice = {{"index", i}, {"finish_reason", FinishReasonJson(c.finish)}};
    nlohmann::json logprobs = nullptr;
    if (kind_ == ApiKind::kChat) {
      if (logprobs_) logprobs = ChatLogprobs(c.tokens);
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      if (tool_format_) {
        ToolCallOutput out = ParseToolCalls(*tool_format_, c.text);
        if (!out.calls.empty()) {
          choice["message"]["content"] =
              out.content.empty() ? nlohmann::json(nullptr) : nlohmann::json(out.content);
          choice["message"]["tool_calls"] = ToolCallsJson(out.calls, /*with_index=*/false);
          if (c.finish == FinishKind::kStop) choice["finish_reason"] = "tool_calls";
        }
      }
    } else {
      size_t offset = 0;
      if (logprobs_) logprobs = CompletionLogprobs(c.tokens, offset);
      choice["text"] = c.text;
    }
    choice["logprobs"] = std::move(logprobs);
    if (kind_ == ApiKind::kCompletion && !c.prompt_logprobs.empty()) {
      choice["prompt_logprobs"] = PromptLogprobs(c.prompt_logprobs);
    }
    // vLLM's extension: which stop string or token ended the choice.
    choice["stop_reason"] =
        c.stop_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.stop_reason);
    list.push_back(std::move(choice));
  }
  nlohmann::json out = {{"id", id_},
                        {"object", kind_ == ApiKind::kChat ? "chat.completion" : "text_completion"},
                        {"created", created_},
                        {"model", model_},
                        {"choices", std::move(list)},
                        {"usage", UsageJson(usage)}};
  // Chat has one prompt for all choices: vLLM puts its scores beside them.
  if (kind_ == ApiKind::kChat && !choices.empty() && !choices[0].prompt_logprobs.empty()) {
    out["prompt_logprobs"] = PromptLogprobs(choices[0].prompt_logprobs);
  }
  return out;
}

nlohmann::json ResponseFormatter::PromptLogprobs(const std::vector<TokenOutput>& tokens) const {
  nlohmann::json list = nlohmann::json::array();
  for (const TokenOutput& t : tokens) {
    if (std::isnan(t.logprob)) {
      list.push_back(nullptr);
      continue;
    }
    nlohmann::json ranked = nlohmann::json::object();
    for (size_t i = 0; i < t.top_logprobs.size(); ++i) {
      const TokenLogprob& alt = t.top_logprobs[i];
      ranked[std::to_string(alt.token)] = {{"logprob", alt.logprob},
                                           {"rank", i + 1},
                                           {"decoded_token", tokenizer_->TokenBytes(alt.token)}};
    }
    // The prompt's own token, with its true rank, whether or not it made the top N.
    ranked[std::to_string(t.token)] = {{"logprob", t.logprob},
                                       {"rank", t.rank},
                                       {"decoded_token", tokenizer_->TokenBytes(t.token)}};
    list.push_back(std::move(ranked));
  }
  return list;
}

nlohmann::json ResponseFormatter::ChunkBase() const {
  nlohmann::json chunk = {
      {"id", id_},
      {"object", kind_ == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"},
      {"created", created_},
      {"model", model_}};
  if (include_usage_) chunk["usage"] = nullptr;
  return chunk;
}

nlohmann::json ResponseFormatter::RoleChunk(int32_t index) const {
  nlohmann::json chunk = ChunkBase();
  chunk["choices"] = nlohmann::json::array({{{"index", index},
                                             {"delta", {{"role", "assistant"}, {"content", ""}}},
                                             {"logprobs", nullptr},
                                             {"finish_reason", nullptr}}});
  return chunk;
}

nlohmann::json ResponseFormatter::DeltaChunk(const SequenceDelta& delta) {
  nlohmann::json choice = {{"index", delta.index},
                           {"finish_reason", FinishReasonJson(delta.finish)}};
  nlohmann::json logprobs = nullptr;
  if (kind_ == ApiKind::kChat) {
    if (logprobs_ && !delta.tokens.empty()) logprobs = ChatLogprobs(delta.tokens);
    nlohmann::json d = nlohmann::json::object();
    if (tool_format_) {
      if (ToolCallDelta(delta, d) && delta.finish == FinishKind::kStop) {
        choice["finish_reason"] = "tool_calls";
      }
    } else if (!delta.text.empty() || delta.finish == FinishKind::kNone) {
      d["content"] = delta.text;
    }
    choice["delta"] = std::move(d);
  } else {
    if (logprobs_ && !delta.tokens.empty()) {
      const size_t i =
          std::min(static_cast<size_t>(std::max(delta.index, 0)), stream_offsets_.size() - 1);
      logprobs = CompletionLogprobs(delta.tokens, stream_offsets_[i]);
    }
    choice["text"] = delta.text;
  }
  choice["logprobs"] = std::move(logprobs);
  if (delta.finish != FinishKind::kNone) {
    choice["stop_reason"] =
        delta.stop_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(delta.stop_reason);
  }
  nlohmann::json chunk = ChunkBase();
  chunk["choices"] = nlohmann::json::array({std::move(choice)});
  return chunk;
}

nlohmann::json ResponseFormatter::UsageChunk(const Usage& usage) const {
  nlohmann::json chunk = ChunkBase();
  chunk["choices"] = nlohmann::json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

}  // namespace xq
