#include "engine/sampling/sequence_sampler.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "engine/sampling/logits_processor.h"

namespace xq {

static_assert(SamplingParams::kMaxTopLogprobs == kMaxRowTopLogprobs,
              "a runner's RowLogprobs must hold every alternative a request may ask for");

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
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  AppendLogitEdits(
      params_, history_,
      StopTokensToMask(processed.size(), [&](size_t t) { return processed[t] != kNegInf; }), edits);
  ApplyLogitEdits(processed, edits);

  SampleResult result;
  result.token = sampler_.Sample(processed);
  if (params_.logprobs) {
    const bool raw = params_.logprobs_mode == LogprobsMode::kRaw;
    const float temperature = LogprobsTemperature();
    TokenLogprobs lp = ComputeTokenLogprobs(raw ? logits : std::span<const float>(processed),
                                            result.token, params_.top_logprobs, temperature);
    result.logprob = lp.logprob;
    result.top_logprobs = std::move(lp.top);
  }
  return Record(std::move(result));
}

float SequenceSampler::LogprobsTemperature() const {
  const bool raw = params_.logprobs_mode == LogprobsMode::kRaw;
  return raw || params_.temperature == 0.0f ? 1.0f : params_.temperature;
}

void SequenceSampler::RowForRunner(int64_t vocab, std::vector<LogitEdit>& edits,
                                   std::vector<uint32_t>& allowed, RowSampling& row) {
  assert(!finished());
  const auto words = static_cast<size_t>(AllowedTokenWords(vocab));
  const size_t at = allowed.size();
  allowed.resize(at + words);
  const std::span<uint32_t> mask(allowed.data() + at, words);
  const bool masked = constraint_ && constraint_->AllowedTokens(mask);
  if (!masked) allowed.resize(at);
  AppendLogitEdits(
      params_, history_,
      StopTokensToMask(static_cast<size_t>(vocab),
                       [&](size_t t) { return !masked || TokenAllowed(mask.data(), t); }),
      edits);
  row = sampler_.NextRow();
  row.allowed_tokens = masked ? static_cast<int32_t>(at / words) : -1;
  if (params_.logprobs) {
    row.top_logprobs = params_.top_logprobs;
    row.raw_logprobs = params_.logprobs_mode == LogprobsMode::kRaw;
    row.logprobs_temperature = LogprobsTemperature();
  }
}

SampleResult SequenceSampler::Accept(int32_t token, const RowLogprobs* logprobs) {
  assert(!finished() && (logprobs || !params_.logprobs));
  SampleResult result;
  result.token = token;
  if (params_.logprobs) {
    result.logprob = logprobs->logprob;
    for (int32_t i = 0; i < logprobs->top_count; ++i) {
      result.top_logprobs.push_back({logprobs->top_tokens[i], logprobs->top_logprobs[i]});
    }
  }
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

StopMatcher::Output SequenceSampler::PushText(std::string_view piece) {
  StopMatcher::Output out = stop_matcher_.Push(piece, generated_ >= params_.min_tokens);
  if (out.stopped) finish_ = FinishReason::kStop;
  return out;
}

}  // namespace xq
