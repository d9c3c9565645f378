#include "engine/step/solo_sequence.h"

#include <algorithm>

#include "engine/step/batch_builder.h"

namespace xq {

const std::vector<float>& SoloSequence::Append(std::span<const int32_t> tokens,
                                               std::span<const int64_t> logits_rows) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  kv_.Reserve(seq_, n);
  inputs_.Clear();
  AppendSequence(inputs_, kv_, seq_, tokens, LogitRows::kNone);
  inputs_.logits_rows.assign(logits_rows.begin(), logits_rows.end());
  runner_.Execute(inputs_, logits_);
  kv_.Commit(seq_, n);
  return logits_;
}

const std::vector<float>& SoloSequence::Step(int32_t token) {
  const int32_t tokens[] = {token};
  const int64_t rows[] = {0};
  return Append(tokens, rows);
}

int32_t SoloSequence::StepGreedy(int32_t token) {
  if (!runner_.SamplesRows()) {
    const std::vector<float>& row = Step(token);
    return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
  }
  const int32_t tokens[] = {token};
  kv_.Reserve(seq_, 1);
  inputs_.Clear();
  AppendSequence(inputs_, kv_, seq_, tokens, LogitRows::kLast);
  inputs_.sampled_rows.push_back(0);
  inputs_.sampled_edit_indptr.push_back(0);
  inputs_.row_sampling.emplace_back();  // greedy
  runner_.Execute(inputs_, logits_);
  kv_.Commit(seq_, 1);
  return runner_.sampled_tokens()[0];
}

}  // namespace xq
