// Builds a step's BatchInputs from the KV manager's bookkeeping: the one place where sequences
// (their tokens and block ids) become plain data for the runner.
#pragma once

#include <cstdint>
#include <span>

#include "engine/kv/kv_cache_manager.h"
#include "engine/kv/sequence_kv.h"
#include "engine/runner/batch_inputs.h"

namespace xq {

// Which of a chunk's rows want next-token logits.
enum class LogitRows { kNone, kLast, kAll };

// Appends one sequence's chunk: its next tokens, at positions seq.length on, seq holding the
// blocks for them (KvCacheManager::Reserve); `logits` rows go to logits_rows, in order. `in`
// must have been Clear()ed before the first.
void AppendSequence(BatchInputs& in, const KvCacheManager& kv, const SequenceKv& seq,
                    std::span<const int32_t> chunk, LogitRows logits);

}  // namespace xq
