// ResponseFormatter: OpenAI response bodies for one request: the whole chat.completion /
// text_completion object, or its stream of chunks (SSE "data:" events), with logprobs and usage.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/openai_request.h"
#include "server/core/tool_call_parser.h"

namespace xq {

// One of the n copies, accumulated for a non-streaming response.
struct ChoiceResult {
  std::string text;
  // A NaN logprob marks a token that has none (the first echoed prompt token): null in JSON.
  std::vector<TokenOutput> tokens;
  FinishKind finish = FinishKind::kNone;
  std::string stop_reason;
  // vLLM's prompt_logprobs: every prompt token, the first with a NaN logprob (null in JSON).
  std::vector<TokenOutput> prompt_logprobs;

  void Append(const SequenceDelta& delta);
};

// "stop", "length", "abort", "error"; null while running.
nlohmann::json FinishReasonJson(FinishKind kind);
nlohmann::json UsageJson(const Usage& usage);
// One server-sent event: "data: <json>\n\n".
std::string SseData(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

class ResponseFormatter {
 public:
  // tokenizer must outlive the formatter; it spells the tokens of logprobs.
  ResponseFormatter(ApiKind kind, std::string id, std::string model, int64_t created,
                    const Tokenizer& tokenizer, const SamplingParams& params);
  // Chat with tools the model may call: tool calls in the text become message.tool_calls (and
  // finish_reason "tool_calls"); streamed, the text from a call marker on is held until the end.
  void set_tool_calls(ToolCallFormat format);

  nlohmann::json Final(const std::vector<ChoiceResult>& choices, const Usage& usage) const;

  // Streaming. Chat opens each choice with a role chunk; every delta becomes one chunk (the
  // finishing one carries finish_reason); include_usage adds "usage": null to them and a final
  // usage-only chunk.
  nlohmann::json RoleChunk(int32_t index) const;
  nlohmann::json DeltaChunk(const SequenceDelta& delta);
  nlohmann::json UsageChunk(const Usage& usage) const;
  void set_include_usage(bool on) { include_usage_ = on; }

  const std::string& id() const { return id_; }

 private:
  nlohmann::json ChunkBase() const;
  nlohmann::json ChatLogprobs(const std::vector<TokenOutput>& tokens) const;
  // Completions' legacy shape; text_offset continues from `offset` (advanced).
  nlohmann::json CompletionLogprobs(const std::vector<TokenOutput>& tokens, size_t& offset) const;
  nlohmann::json TokenEntry(int32_t token, float logprob) const;
  // vLLM's shape: [null, {"<id>": {"logprob", "rank", "decoded_token"}, ...}, ...].
  nlohmann::json PromptLogprobs(const std::vector<TokenOutput>& tokens) const;
  // Streaming with tools: fills the delta's content and tool_calls; true when calls were made.
  bool ToolCallDelta(const SequenceDelta& delta, nlohmann::json& d);

  ApiKind kind_;
  std::string id_;
  std::string model_;
  int64_t created_;
  const Tokenizer* tokenizer_;
  bool logprobs_;
  bool include_usage_ = false;
  std::vector<size_t> stream_offsets_;  // per choice, for streamed text_offset
  std::optional<ToolCallFormat> tool_format_;
  std::vector<ToolCallStream> tool_streams_;  // per choice
};

}  // namespace xq
