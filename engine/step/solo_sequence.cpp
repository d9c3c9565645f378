#include "engine/step/solo_sequence.h"

#include <algorithm>


namespace xq {

void SoloSequence::Run(std::span<const int32_t> tokens, LogitRows rows,
                       const std::function<void(BatchInputs&)>& ask) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  kv_.Reserve(seq_, n);
  inputs_.Clear();
  AppendSequence(inputs_, kv_, seq_, tokens, rows);
  ask(inputs_);
  runner_.Execute(inputs_, logits_);
  kv_.Commit(seq_, n);
}

const std::vector<float>& SoloSequence::Append(std::span<const int32_t> tokens,
                                               std::span<const int64_t> logits_rows) {
  Run(tokens, LogitRows::kNone,
      [&](BatchInputs& in) { in.logits_rows.assign(logits_rows.begin(), logits_rows.end()); });
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
  Run(tokens, LogitRows::kLast, [](BatchInputs& in) {
    in.sampled_rows.push_back(0);
    in.sampled_edit_indptr.push_back(0);
    in.row_sampling.emplace_back();  // greedy
  });
  return runner_.sampled_tokens()[0];
}

}  // namespace xq
