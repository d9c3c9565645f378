// Which steps a CUDA graph may run, and their inputs padded to the graph's fixed shape. A graph
// freezes every launch's grid and counts, so it serves one batch size: decode steps (one row
// per sequence, every row sampled on the device) are padded up to the next bucket, as vLLM
// pads its captured batch sizes. A padding sequence decodes token 0 at position 0 into a window
// block no sequence owns (its result is dropped); padding quantize jobs name block -1, which
// the quantize kernel skips. Everything else (prefill chunks, rows whose logits come back,
// raw-logprob copies) runs eagerly.
#pragma once

#include <cstdint>
#include <span>

#include "engine/runner/batch_inputs.h"
#include "kernels/cuda/ops.h"

namespace xq {

// The batch sizes graphs are captured for (vLLM's spacing: fine where padding costs most).
inline constexpr int64_t kGraphBuckets[] = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};

// Whether sampled entry b's raw logprobs need its row copied before a grammar mask or edits
// change it (a per-row device copy, which keeps the step out of graphs).
bool NeedsRawCopy(const BatchInputs& in, size_t b);

// The bucket the step pads to, or 0 when it must run eagerly.
int64_t GraphBucket(const BatchInputs& in);

// The context length a graph's attention split is planned for, given the step's longest
// sequence: the next power of two, at least 256, so that a class of lengths shares one graph
// (the splits past a shorter sequence's end find nothing to do).
int64_t GraphContextClass(int64_t longest_kv);

// The attention split a graph of `bucket` rows freezes: planned for the context class; when that
// is a single split, one that covers any length, so the graph serves every class.
cuda::AttentionSplit GraphAttentionSplit(int64_t bucket, int64_t num_kv_heads, int64_t longest_kv);

// `in` with padding sequences up to `bucket`; scratch_pages: one window block's pages that no
// sequence owns. Returns `out`.
const BatchInputs& PadToBucket(const BatchInputs& in, int64_t bucket,
                               std::span<const int32_t> scratch_pages, BatchInputs& out);

}  // namespace xq
