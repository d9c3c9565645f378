// Builds a step's BatchInputs from the KV manager's bookkeeping: the one place where sequences
// (their tokens and block ids) become plain data for the runner.
#pragma once

#include <cstdint>
#include <span>

#include "engine/kv/kv_cache_manager.h"
#include "engine/kv/sequence_kv.h"
#include "engine/runner/batch_inputs.h"

namespace xq {

// Appends one sequence's chunk: its next tokens, at positions seq.length on, seq holding the
// blocks for them (KvCacheManager::Reserve). With want_logits, the chunk's last row is added to
// logits_rows. `in` must have been Clear()ed before the first.
void AppendSequence(BatchInputs& in, const KvCacheManager& kv, const SequenceKv& seq,
                    std::span<const int32_t> chunk, bool want_logits);

}  // namespace xq
