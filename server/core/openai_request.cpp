#include "server/core/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "server/core/api_error.h"
#include "server/core/json_fields.h"
#include "server/core/structured_output.h"

namespace xq {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxPriority = 1'000'000;

std::optional<float> GetFloat(const nlohmann::json& body, const std::string& key) {
  auto v = GetNumber(body, key);
  if (!v) return std::nullopt;
  if (!std::isfinite(*v) || std::abs(*v) > std::numeric_limits<float>::max()) {
    throw InvalidRequestError(key, "must be a finite number");
  }
  return static_cast<float>(*v);
}

// The fields both endpoints share (OpenAI's, then vLLM's extensions).
void ParseSampling(const nlohmann::json& body, int64_t vocab_size, OpenAiRequest& r) {
  SamplingParams& p = r.params;
  r.model = GetString(body, "model").value_or("");
  r.stream = GetBool(body, "stream").value_or(false);
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) {
      throw InvalidRequestError("stream_options",
                                "must be an object, got " + std::string(it->type_name()));
    }
    try {
      r.include_usage = GetBool(*it, "include_usage").value_or(false);
    } catch (const ApiError&) {
      throw InvalidRequestError("stream_options.include_usage", "must be a boolean");
    }
    if (!r.stream && r.include_usage) {
      throw InvalidRequestError("stream_options", "is only allowed when stream is true");
    }
  }
  if (auto v = GetInt(body, "n", 1, SamplingParams::kMaxN)) p.n = static_cast<int32_t>(*v);
  if (auto v = GetStringOrList(body, "stop")) p.stop = *v;
  if (auto v = GetInt(body, "seed")) p.seed = static_cast<uint64_t>(*v);
  if (auto v = GetFloat(body, "temperature")) {
    // OpenAI's own range (the engine would sample at any finite temperature).
    if (!(*v >= 0.0 && *v <= 2.0)) {
      throw InvalidRequestError("temperature",
                                "must be in [0, 2], got " + nlohmann::json(*v).dump());
    }
    p.temperature = *v;
  }
  if (auto v = GetFloat(body, "top_p")) p.top_p = *v;
  if (auto v = GetFloat(body, "presence_penalty")) p.presence_penalty = *v;
  if (auto v = GetFloat(body, "frequency_penalty")) p.frequency_penalty = *v;
  if (auto v = GetInt(body, "top_k", -1, kInt32Max)) p.top_k = *v < 0 ? 0 : static_cast<int>(*v);
  if (auto v = GetFloat(body, "min_p")) p.min_p = *v;
  if (auto v = GetFloat(body, "repetition_penalty")) p.repetition_penalty = *v;
  if (auto v = GetBool(body, "ignore_eos")) p.ignore_eos = *v;
  if (auto v = GetInt(body, "min_tokens", 0, kInt32Max)) p.min_tokens = static_cast<int32_t>(*v);
  if (auto v = GetTokenList(body, "stop_token_ids", vocab_size)) p.stop_token_ids = *v;
  p.grammar = ParseStructuredOutput(body);
  if (auto v = GetInt(body, "prompt_logprobs", 0, SamplingParams::kMaxTopLogprobs)) {
    if (r.stream) {
      throw InvalidRequestError("prompt_logprobs", "is not available when streaming");
    }
    r.prompt_logprobs = static_cast<int32_t>(*v);
    p.prompt_logprobs = r.prompt_logprobs;
  }
  r.user = GetString(body, "user").value_or("");
  if (auto v = GetInt(body, "priority", -kMaxPriority, kMaxPriority)) {
    r.priority = static_cast<int32_t>(*v);
  }

  // max_completion_tokens is the newer name of max_tokens on chat.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto v = GetInt(body, key, 1, kInt32Max)) {
      p.max_tokens = static_cast<int32_t>(*v);
      r.max_tokens_given = true;
      r.max_tokens_field = key;
    }
  }
  // Without a limit, chat runs to the end of the context (fitted once the prompt is known).
  if (!r.max_tokens_given && r.kind == ApiKind::kChat) p.max_tokens = kInt32Max;

  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) {
      throw InvalidRequestError("logit_bias", "must be an object mapping token ids to biases");
    }
    for (const auto& [key, value] : it->items()) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || key.empty()) {
        throw InvalidRequestError("logit_bias", "key \"" + key + "\" is not a token id");
      }
      if (!value.is_number()) {
        throw InvalidRequestError("logit_bias", "bias for token " + key + " must be a number");
      }
      if (id < 0 || id >= vocab_size) {
        throw InvalidRequestError("logit_bias", "token id " + key +
                                                    " is outside the vocabulary [0, " +
                                                    std::to_string(vocab_size) + ")");
      }
      p.logit_bias[static_cast<int32_t>(id)] = value.get<float>();
    }
  }
}

std::string MessageContent(const nlohmann::json& content, const std::string& param) {
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    throw InvalidRequestError(param, "must be a string or a list of content parts");
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const auto& part = content[i];
    const std::string name = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw InvalidRequestError(name, "must be an object");
    auto type = GetString(part, "type");
    if (type != "text") {
      throw InvalidRequestError(name + ".type",
                                "only text content parts are supported, got " +
                                    (type ? "\"" + *type + "\"" : std::string("none")));
    }
    auto part_text = part.find("text");
    if (part_text == part.end() || !part_text->is_string()) {
      throw InvalidRequestError(name + ".text", "must be a string");
    }
    text += part_text->get<std::string>();
  }
  return text;
}

// An assistant's tool_calls (each call's arguments, a JSON string in OpenAI's shape, become the
// object templates expect), a tool result's tool_call_id and name.
void ParseToolFields(const nlohmann::json& m, const std::string& name, ChatMessage& out) {
  if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
    if (!calls->is_array()) throw InvalidRequestError(name + ".tool_calls", "must be a list");
    out.tool_calls = nlohmann::json::array();
    for (size_t i = 0; i < calls->size(); ++i) {
      const std::string field = name + ".tool_calls[" + std::to_string(i) + "]";
      const nlohmann::json& call = (*calls)[i];
      const auto fn = call.is_object() ? call.find("function") : call.end();
      if (fn == call.end() || !fn->is_object() || !fn->contains("name") ||
          !(*fn)["name"].is_string()) {
        throw InvalidRequestError(field + ".function", "must be an object with a name");
      }
      nlohmann::json args = fn->value("arguments", nlohmann::json::object());
      if (args.is_string()) {
        nlohmann::json parsed = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) args = std::move(parsed);
      }
      nlohmann::json rendered = call;
      rendered["function"]["arguments"] = std::move(args);
      out.tool_calls.push_back(std::move(rendered));
    }
  }
  if (auto v = GetString(m, "tool_call_id")) out.tool_call_id = *v;
  if (auto v = GetString(m, "name")) out.name = *v;
}

}  // namespace

OpenAiRequest ParseChatRequest(const nlohmann::json& body, int64_t vocab_size) {
  OpenAiRequest r;
  r.kind = ApiKind::kChat;
  ParseSampling(body, vocab_size, r);
  auto messages = body.find("messages");
  if (messages == body.end() || messages->is_null()) {
    throw InvalidRequestError("messages", "is required");
  }
  if (!messages->is_array() || messages->empty()) {
    throw InvalidRequestError("messages", "must be a non-empty list of messages");
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    const std::string name = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw InvalidRequestError(name, "must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      throw InvalidRequestError(name + ".role", "must be a string");
    }
    static const std::set<std::string> kRoles = {"system",    "developer", "user",
                                                 "assistant", "tool",      "function"};
    if (!kRoles.count(role->get<std::string>())) {
      throw InvalidRequestError(name + ".role",
                                "must be one of system, developer, user, assistant, tool, "
                                "function");
    }
    auto content = m.find("content");
    r.messages.push_back(TextMessage(
        role->get<std::string>(),
        MessageContent(content == m.end() ? nlohmann::json() : *content, name + ".content")));
    ParseToolFields(m, name, r.messages.back());
  }
  r.tools = ParseToolRequest(body);
  r.render.add_generation_prompt = GetBool(body, "add_generation_prompt").value_or(true);
  if (auto kwargs = body.find("chat_template_kwargs"); kwargs != body.end() && !kwargs->is_null()) {
    if (!kwargs->is_object()) {
      throw InvalidRequestError("chat_template_kwargs", "must be an object");
    }
    if (kwargs->contains("messages")) {
      throw InvalidRequestError("chat_template_kwargs", "cannot replace messages");
    }
    r.render.template_kwargs = *kwargs;
  }
  r.render.continue_final_message = GetBool(body, "continue_final_message").value_or(false);
  if (r.render.continue_final_message) {
    if (r.render.add_generation_prompt && body.contains("add_generation_prompt")) {
      throw InvalidRequestError("continue_final_message",
                                "cannot be combined with add_generation_prompt: true");
    }
    if (r.messages.back().role != "assistant") {
      throw InvalidRequestError("continue_final_message",
                                "the final message must be the assistant's to continue it");
    }
  }
  if (auto lp = GetBool(body, "logprobs")) r.params.logprobs = *lp;
  if (auto top = GetInt(body, "top_logprobs", 0, SamplingParams::kMaxTopLogprobs)) {
    r.params.top_logprobs = static_cast<int32_t>(*top);
  }
  ValidateSamplingParams(r.params, r.kind, vocab_size);
  return r;
}

OpenAiRequest ParseCompletionRequest(const nlohmann::json& body, int64_t vocab_size) {
  OpenAiRequest r;
  r.kind = ApiKind::kCompletion;
  ParseSampling(body, vocab_size, r);
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) throw InvalidRequestError("prompt", "is required");
  if (prompt->is_string()) {
    r.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    r.prompt_ids = ToTokenList(*prompt, "prompt", vocab_size);
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    r.prompt_text = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_array()) {
    r.prompt_ids = ToTokenList((*prompt)[0], "prompt[0]", vocab_size);
  } else if (prompt->is_array() && prompt->size() > 1) {
    for (size_t i = 0; i < prompt->size(); ++i) {
      const nlohmann::json& p = (*prompt)[i];
      const std::string field = "prompt[" + std::to_string(i) + "]";
      if (p.is_string()) {
        r.batch_texts.push_back(p.get<std::string>());
      } else if (p.is_array()) {
        r.batch_ids.push_back(ToTokenList(p, field, vocab_size));
      } else {
        throw InvalidRequestError(field, "must be a string or a list of token ids");
      }
    }
    if (!r.batch_texts.empty() && !r.batch_ids.empty()) {
      throw InvalidRequestError("prompt", "must not mix strings and lists of token ids");
    }
    if (r.stream) {
      throw InvalidRequestError("prompt",
                                "a list of several prompts is not supported when "
                                "streaming; send one request per prompt");
    }
  } else {
    throw InvalidRequestError("prompt",
                              "must be a string, a list of token ids, or a list with "
                              "one of those");
  }
  r.echo = GetBool(body, "echo").value_or(false);
  r.suffix = GetString(body, "suffix").value_or("");
  if (!r.suffix.empty() && (r.prompt_ids || !r.batch_ids.empty())) {
    throw InvalidRequestError("suffix", "needs a text prompt, not token ids");
  }
  if (auto lp = GetInt(body, "logprobs", 0, SamplingParams::kMaxTopLogprobs)) {
    r.params.logprobs = true;
    r.params.top_logprobs = static_cast<int32_t>(*lp);
  }
  if (r.echo && r.params.logprobs) {
    // The prompt's tokens with their log-probabilities (what log-likelihood evaluation reads).
    if (r.stream) {
      throw InvalidRequestError("echo",
                                "echo together with logprobs is not supported when streaming");
    }
    r.params.prompt_logprobs = std::max(r.params.prompt_logprobs, r.params.top_logprobs);
  }
  ValidateSamplingParams(r.params, r.kind, vocab_size);
  return r;
}

std::vector<OpenAiRequest> SplitPromptBatch(const OpenAiRequest& r) {
  if (r.batch_texts.empty() && r.batch_ids.empty()) return {r};
  std::vector<OpenAiRequest> out;
  OpenAiRequest one = r;
  one.batch_texts.clear();
  one.batch_ids.clear();
  for (const std::string& text : r.batch_texts) {
    one.prompt_text = text;
    out.push_back(one);
  }
  for (const std::vector<int32_t>& ids : r.batch_ids) {
    one.prompt_ids = ids;
    out.push_back(one);
  }
  return out;
}

void ValidateSamplingParams(const SamplingParams& params, ApiKind kind, int64_t vocab_size) {
  try {
    params.Validate(vocab_size);
  } catch (const Error& e) {
    // Messages read "sampling params: FIELD: why".
    std::string message = e.what();
    const std::string prefix = "sampling params: ";
    if (message.starts_with(prefix)) message = message.substr(prefix.size());
    std::string field = message.substr(0, message.find(':'));
    if (field.find(' ') != std::string::npos) field.clear();
    if (kind == ApiKind::kCompletion && field == "top_logprobs") field = "logprobs";
    throw ApiError(400, "invalid_request_error", message, field);
  }
}

}  // namespace xq
