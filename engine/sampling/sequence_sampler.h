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
#include "kernels/include/row_logprobs.h"

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

  // What Next does to a row of `vocab` logits, for a runner that draws the token where the
  // logits are (the CUDA runner): appends the constraint's allowed-token bitmask, if it masks
  // anything, to `allowed` and the row's sparse edits to `edits`, and sets `row` to the draw, the
  // logprobs wanted and the bitmask's slot (kernels/include/row_sampling.h; the uniform taken
  // from the generator as Next would). The caller then passes the token, and its logprobs when
  // asked, to Accept. One difference from Next: before min_tokens a constraint that allows only
  // stop tokens is told by its bitmask, not by the logits (a token the model itself gives -inf
  // still counts as allowed).
  void RowForRunner(int64_t vocab, std::vector<LogitEdit>& edits, std::vector<uint32_t>& allowed,
                    RowSampling& row);
  // One decode step whose token was drawn elsewhere from RowForRunner: recorded as Next does.
  // logprobs: the row's, required when params().logprobs.
  SampleResult Accept(int32_t token, const RowLogprobs* logprobs = nullptr);

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
  // The temperature logprobs are computed at: 1 for raw logprobs or a greedy request.
  float LogprobsTemperature() const;
  // The stop tokens to mask: all of them before min_tokens; with a constraint, only while it
  // allows another token (a finished grammar can only end): allowed(t) says whether token t of
  // `vocab` is, asked only then.
  template <typename Allowed>
  std::span<const int32_t> StopTokensToMask(size_t vocab, Allowed allowed) const {
    if (generated_ >= params_.min_tokens) return {};
    if (constraint_) {
      bool other_allowed = false;
      for (size_t t = 0; t < vocab && !other_allowed; ++t) {
        other_allowed = allowed(t) && !IsStopToken(static_cast<int32_t>(t));
      }
      if (!other_allowed) return {};
    }
    return stop_tokens_;
  }
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
