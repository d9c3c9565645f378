// The engine's request and output types: what a frontend (HTTP, gRPC, the offline benchmark)
// submits, and the incremental updates it reads back. Transport-agnostic and block-agnostic.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/sampling_params.h"
#include "engine/sampling/token_logprobs.h"

namespace xq {

using Clock = std::chrono::steady_clock;
struct CompiledGrammar;

struct GenerateRequest {
  std::string id;               // unique per request; used in logs and errors
  std::vector<int32_t> prompt;  // token ids, already tokenized by the frontend
  SamplingParams params;        // validated by Engine::Submit
  int32_t priority = 0;         // lower runs first; equal priorities are first come first served
  std::optional<Clock::time_point> deadline;  // past it the request is aborted
  // params.grammar compiled for the model's vocabulary; Engine::Submit fills it in.
  std::shared_ptr<const CompiledGrammar> compiled_grammar;
};

enum class FinishKind {
  kNone,    // still running
  kStop,    // EOS, a stop token or a stop string
  kLength,  // max_tokens or the context length
  kAbort,   // cancelled by the client, deadline passed, or engine shutdown
  kError,   // the engine could not serve it (see RequestUpdate::error)
};

const char* FinishKindName(FinishKind kind);  // "stop", "length", "abort", "error"

struct TokenOutput {
  int32_t token = -1;
  float logprob = 0.0f;                    // only when params.logprobs
  std::vector<TokenLogprob> top_logprobs;  // only when params.top_logprobs > 0
  int32_t rank = 0;                        // prompt logprobs: 1 + how many were more likely
};

// New output of one of the n copies since its previous delta.
struct SequenceDelta {
  int32_t index = 0;                // which copy (0 .. n-1)
  std::string text;                 // new text; stop strings and stop tokens are never included
  std::vector<TokenOutput> tokens;  // the tokens sampled this step (stop tokens included)
  FinishKind finish = FinishKind::kNone;
  // With finish == kStop: the stop string that matched, or the stop token id as text; empty for
  // EOS.
  std::string stop_reason;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // over all n copies
  int32_t cached_tokens = 0;      // prompt tokens served from the prefix cache
};

// One message on a request's stream. Deltas of a step arrive together, as soon as it ends.
struct RequestUpdate {
  std::vector<SequenceDelta> deltas;
  // With params.prompt_logprobs >= 0, once, in the update of the first sampled token: for prompt
  // positions 1 .. P-1 the prompt token there and its log-probability given the tokens before it
  // (raw model distribution), with the top alternatives.
  std::vector<TokenOutput> prompt_logprobs;
  bool finished = false;  // the last update of this request: every copy has finished
  Usage usage;            // running totals; final when finished
  std::string error;      // non-empty when the request failed inside the engine (kError)
};

}  // namespace xq
