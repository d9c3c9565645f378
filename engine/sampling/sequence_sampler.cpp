#include "engine/sampling/sequence_sampler.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "engine/sampling/logits_processor.h"

namespace xq {
namespace {

// Shared by all sequences sampled on this thread (see Scratch in sampler.cpp for why).
std::vector<float>& ProcessedScratch() {
  thread_local std::vector<float> processed;
  return processed;
}

std::vector<LogitEdit>& EditScratch() {
  thread_local std::vector<LogitEdit> edits;
  return edits;
}

}  // namespace

uint64_t EffectiveSeed(const SamplingParams& params, int32_t index) {
  return (params.seed ? *params.seed : RandomSeed()) + static_cast<uint64_t>(index);
}

std::vector<int32_t> StopTokenIds(const SamplingParams& params, std::span<const int32_t> eos_ids) {
  std::vector<int32_t> ids = params.stop_token_ids;
  if (!params.ignore_eos) ids.insert(ids.end(), eos_ids.begin(), eos_ids.end());
  return ids;
}

SequenceSampler::SequenceSampler(SamplingParams params, std::span<const int32_t> prompt,
                                 std::span<const int32_t> eos_ids, int32_t index,
                                 std::unique_ptr<TokenConstraint> constraint)
    : params_(std::move(params)),
      stop_tokens_(StopTokenIds(params_, eos_ids)),
      sampler_(params_, EffectiveSeed(params_, index)),
      history_(prompt),
      stop_matcher_(params_.stop),
      constraint_(std::move(constraint)) {}

bool SequenceSampler::IsStopToken(int32_t token) const {
  return std::find(stop_tokens_.begin(), stop_tokens_.end(), token) != stop_tokens_.end();
}

SampleResult SequenceSampler::Next(std::span<const float> logits) {
  assert(!finished() && !logits.empty());
  std::vector<float>& processed = ProcessedScratch();
  processed.assign(logits.begin(), logits.end());
  if (constraint_) constraint_->MaskLogits(processed);
  std::vector<LogitEdit>& edits = EditScratch();
  edits.clear();
  AppendLogitEdits(params_, history_, StopTokensToMask(processed), edits);
  ApplyLogitEdits(processed, edits);

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
  return Record(std::move(result));
}

bool SequenceSampler::GreedyEdits(std::vector<LogitEdit>& out) const {
  assert(!finished());
  if (!sampler_.greedy() || params_.logprobs || constraint_) return false;
  AppendLogitEdits(params_, history_, StopTokensToMask({}), out);
  return true;
}

SampleResult SequenceSampler::Accept(int32_t token) {
  assert(!finished() && !constraint_);
  SampleResult result;
  result.token = token;
  return Record(std::move(result));
}

SampleResult SequenceSampler::Record(SampleResult result) {
  // The draw kept to the mask, so only a constraint that masked every token, or one already
  // complete (its stop token was drawn under ignore_eos), refuses it: the sequence ends there.
  if (constraint_ && !constraint_->Accept(result.token)) {
    result.is_stop_token = true;
    finish_ = FinishReason::kStop;
    result.finish = finish_;
    return result;
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

std::span<const int32_t> SequenceSampler::StopTokensToMask(std::span<const float> logits) const {
  if (generated_ >= params_.min_tokens) return {};
  if (constraint_) {
    bool other_allowed = false;
    for (size_t t = 0; t < logits.size() && !other_allowed; ++t) {
      other_allowed = logits[t] != -std::numeric_limits<float>::infinity() &&
                      !IsStopToken(static_cast<int32_t>(t));
    }
    if (!other_allowed) return {};
  }
  return stop_tokens_;
}

StopMatcher::Output SequenceSampler::PushText(std::string_view piece) {
  StopMatcher::Output out = stop_matcher_.Push(piece, generated_ >= params_.min_tokens);
  if (out.stopped) finish_ = FinishReason::kStop;
  return out;
}

}  // namespace xq
