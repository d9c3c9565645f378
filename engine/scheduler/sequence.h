// Sequence: one token stream the scheduler manages (a request, or one of its n copies): its
// tokens, how many of them the KV cache holds, and that cache while it runs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kv/sequence_kv.h"

namespace xq {

enum class SequenceStatus { kWaiting, kRunning };

struct Sequence {
  int64_t id = 0;
  int32_t priority = 0;  // lower runs first
  int64_t arrival = 0;   // admission order among equal priorities (kept across preemption)
  int32_t copies = 1;    // sequence slots it takes once sampled (n of its request, before forking)
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_tokens = 0;    // the leading tokens that came with the request
  int64_t num_computed = 0;     // leading tokens whose keys and values the cache holds
  int64_t num_cached = 0;       // of those, taken from the prefix cache at the last admission
  bool prompt_logits = false;   // every prompt position needs its logits (prompt logprobs)
  SequenceStatus status = SequenceStatus::kWaiting;
  SequenceKv kv;  // its blocks, only while running

  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - num_computed; }
};

}  // namespace xq
