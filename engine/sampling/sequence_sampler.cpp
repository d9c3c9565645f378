#include "engine/sampling/sequence_sampler.h"

#include <algorithm>
#include <cassert>

#include "engine/sampling/logits_processor.h"

namespace xq {
namespace {

// Shared by all sequences sampled on this thread (see Scratch in sampler.cpp for why).
std::vector<float>& ProcessedScratch() {
  thread_local std::vector<float> processed;
  return processed;
}

}  // namespace

uint64_t EffectiveSeed(const SamplingParams& params, int32_t index) {
  return (params.seed ? *params.seed : RandomSeed()) + static_cast<uint64_t>(index);
}

SequenceSampler::SequenceSampler(SamplingParams params, std::span<const int32_t> prompt,
                                 std::span<const int32_t> eos_ids, int32_t index)
    : params_(std::move(params)),
      stop_tokens_(params_.stop_token_ids),
      sampler_(params_, EffectiveSeed(params_, index)),
      history_(prompt),
      stop_matcher_(params_.stop) {
  if (!params_.ignore_eos) stop_tokens_.insert(stop_tokens_.end(), eos_ids.begin(), eos_ids.end());
}

bool SequenceSampler::IsStopToken(int32_t token) const {
  return std::find(stop_tokens_.begin(), stop_tokens_.end(), token) != stop_tokens_.end();
}

SampleResult SequenceSampler::Next(std::span<const float> logits) {
  assert(!finished() && !logits.empty());
  std::vector<float>& processed = ProcessedScratch();
  processed.assign(logits.begin(), logits.end());
  if (generated_ < params_.min_tokens) MaskTokens(processed, stop_tokens_);
  ApplyLogitBias(processed, params_.logit_bias);
  ApplyRepetitionPenalty(processed, history_, params_.repetition_penalty);
  ApplyPresenceFrequencyPenalty(processed, history_, params_.presence_penalty,
                                params_.frequency_penalty);

  SampleResult result;
  result.token = sampler_.Sample(processed);
  if (params_.logprobs) {
    const bool raw = params_.logprobs_mode == LogprobsMode::kRaw;
    const float temperature = raw || params_.temperature == 0.0f ? 1.0f : params_.temperature;
    TokenLogprobs lp = ComputeTokenLogprobs(raw ? logits : std::span<const float>(processed),
                                            result.token, params_.top_logprobs, temperature);
    result.logprob = lp.logprob;
    result.top_logprobs = std::move(lp.top);
  }

  history_.AddOutput(result.token);
  ++generated_;
  if (IsStopToken(result.token)) {
    result.is_stop_token = true;
    finish_ = FinishReason::kStop;
  } else if (generated_ >= params_.max_tokens) {
    finish_ = FinishReason::kLength;
  }
  result.finish = finish_;
  return result;
}

StopMatcher::Output SequenceSampler::PushText(std::string_view piece) {
  StopMatcher::Output out = stop_matcher_.Push(piece, generated_ >= params_.min_tokens);
  if (out.stopped) finish_ = FinishReason::kStop;
  return out;
}

}  // namespace xq
