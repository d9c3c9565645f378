// SequenceSampler: everything one sequence needs to pick its tokens step by step (processed
// logits, its own generator, token history, stop matching, counts) and to know when it ends.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling/sampler.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/stop_matcher.h"
#include "engine/sampling/token_constraint.h"
#include "engine/sampling/token_history.h"
#include "engine/sampling/token_logprobs.h"
#include "kernels/include/logit_edit.h"

namespace xq {

enum class FinishReason { kNone, kStop, kLength };

struct SampleResult {
  int32_t token = -1;
  // Only with params.logprobs: the chosen token's logprob and top_logprobs alternatives.
  float logprob = 0.0f;
  std::vector<TokenLogprob> top_logprobs;
  FinishReason finish = FinishReason::kNone;
  // The token is EOS or one of stop_token_ids: it ends the sequence and its text is not emitted.
  bool is_stop_token = false;
};

class SequenceSampler {
 public:
  // params must have passed Validate. prompt feeds the repetition penalty; eos_ids are the
  // model's end-of-generation tokens. Copy `index` of an n > 1 request draws with seed + index.
  // constraint (optional) restricts every token drawn, e.g. to a grammar.
  SequenceSampler(SamplingParams params, std::span<const int32_t> prompt,
                  std::span<const int32_t> eos_ids, int32_t index = 0,
                  std::unique_ptr<TokenConstraint> constraint = nullptr);

  // One decode step: process the logits row (the constraint's mask, EOS / stop tokens masked
  // before min_tokens unless the constraint allows nothing else, logit bias, penalties), draw,
  // record the token. Order follows vLLM: masks, bias, penalties, temperature, top-k, min-p,
  // top-p.
  SampleResult Next(std::span<const float> logits);

  // Whether Next would pick the first maximum of the row after sparse edits alone (greedy, no
  // logprobs, no constraint). If so, appends those edits to `out`, for a runner that picks the
  // token where the logits are (the CUDA runner); the caller then passes the token to Accept.
  bool GreedyEdits(std::vector<LogitEdit>& out) const;
  // One decode step whose token was picked elsewhere from GreedyEdits: recorded as Next does.
  SampleResult Accept(int32_t token);

  // Feeds the detokenized text of the last token (skip it for a stop token). Stop strings are
  // only honoured once min_tokens tokens exist. A match finishes the sequence with kStop.
  StopMatcher::Output PushText(std::string_view piece);
  // Text held back for a possible stop string: after the last token's PushText, call once when
  // the sequence ended any other way (EOS, stop token, length).
  std::string FlushText() { return stop_matcher_.Flush(); }

  uint64_t seed() const { return sampler_.seed(); }
  int32_t generated() const { return generated_; }
  FinishReason finish_reason() const { return finish_; }
  bool finished() const { return finish_ != FinishReason::kNone; }
  const SamplingParams& params() const { return params_; }

 private:
  bool IsStopToken(int32_t token) const;
  // The stop tokens to mask: all of them before min_tokens; with a constraint, only while it
  // allows another token (a finished grammar can only end). logits: after the constraint's mask.
  std::span<const int32_t> StopTokensToMask(std::span<const float> logits) const;
  // Everything after the draw: the constraint, history, counts, the finish reason.
  SampleResult Record(SampleResult result);

  SamplingParams params_;
  std::vector<int32_t> stop_tokens_;  // stop_token_ids, plus eos_ids unless ignore_eos
  Sampler sampler_;
  TokenHistory history_;
  StopMatcher stop_matcher_;
  std::unique_ptr<TokenConstraint> constraint_;
  int32_t generated_ = 0;
  FinishReason finish_ = FinishReason::kNone;
};

// The tokens that end a sequence: params.stop_token_ids, and eos_ids unless params.ignore_eos.
std::vector<int32_t> StopTokenIds(const SamplingParams& params, std::span<const int32_t> eos_ids);

// The seed copy `index` of a request uses: params.seed + index, or a random one when absent.
uint64_t EffectiveSeed(const SamplingParams& params, int32_t index);

}  // namespace xq
