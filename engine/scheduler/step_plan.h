// StepPlan: what one engine step computes, as plain data. The scheduler writes it, with the
// runner's inputs built from the KV manager's block tables; the runner decides nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/runner/batch_inputs.h"

namespace xq {

struct ScheduledChunk {
  int64_t seq_id = 0;
  int64_t start = 0;        // position of the first token (the sequence's num_computed)
  int64_t num_tokens = 0;   // 1 for decode, up to the budget for a prefill chunk
  bool sample = false;      // the chunk ends at the last known token: its logits pick the next
  bool all_logits = false;  // every row's logits are wanted (prompt logprobs); else only sample's

  bool operator==(const ScheduledChunk&) const = default;
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // running sequences first (admission order), then admitted
  std::vector<int64_t> preempted;      // sequences sent back to the queue in this step
  std::vector<int64_t> admitted;       // waiting sequences that started running in this step
  int64_t num_tokens = 0;
  int64_t decode_tokens = 0;  // of num_tokens, those of sequences already generating
  BatchInputs inputs;  // the chunks in order; logits rows for those that sample, in order

  bool empty() const { return chunks.empty(); }
};

}  // namespace xq
