// Profile tuning: the cheapest KV profile (bytes per token at a context length, window and sinks
// included) whose KL against fp16 on the user's text stays within a budget. Candidates vary what
// measured to matter (docs/QUALITY.md): key and value bits per layer range, cross-layer sharing of
// value codes, attention sinks and key group size with param precision, always with the rotation
// (free in bytes). Evaluation is a
// callback, so the search is tested without a model and `xquant tune` runs it on the real
// forward path.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/kv/kv_accounting.h"
#include "engine/kv/kv_profile.h"

namespace xq {

struct ModelKvShape {
  int64_t num_layers = 0, num_kv_heads = 0, head_dim = 0;
};

struct TuneOptions {
  double max_kl = 0.1;            // mean KL(fp16 || profile), nats per token
  double max_real_bits = 16.0;    // of a compressed block (KvAccounting::real_bits_per_element)
  int64_t context_tokens = 4096;  // where bytes per token are compared
  int64_t batch = 4;              // candidates evaluated together (one baseline run each)
};

struct TuneCandidate {
  KvProfile profile;
  KvAccounting accounting;
  double bytes_per_token = 0.0;  // at TuneOptions::context_tokens
  double kl = -1.0;              // measured; -1 while not evaluated
};

struct TuneResult {
  bool found = false;
  TuneCandidate best;                // the cheapest candidate within the budget, when found
  std::vector<TuneCandidate> tried;  // every evaluated candidate, in evaluation order
};

// The candidate grid over `base` (its block size, window and calibration): keys 2-bit, or 1-bit
// from 75% / 50% of the layers up; values 1-bit (shared from 50% / 75% of the layers up, or not)
// or 2-bit; 0, 1 or 2 sink blocks; both halves rotated; the base's group sizes and param
// precision, and (where they differ and the block is a multiple of 16 tokens) key groups of half
// a block with 8-bit params on both halves. Named "tuned-<index>".
std::vector<KvProfile> TuneCandidates(const KvProfile& base);

// `p` with its accounting and bytes per token at `context_tokens` (kl not yet measured).
TuneCandidate CostedCandidate(const KvProfile& p, const ModelKvShape& shape,
                              int64_t context_tokens);

// KL of each profile, in order.
using TuneEvaluator = std::function<std::vector<double>(const std::vector<KvProfile>&)>;

// Evaluates candidates within max_real_bits from the cheapest up, `batch` at a time, and stops
// at the first batch holding one within max_kl: the cheapest of those is the answer, since no
// unevaluated candidate is cheaper.
TuneResult TuneProfile(const std::vector<KvProfile>& candidates, const ModelKvShape& shape,
                       const TuneOptions& options, const TuneEvaluator& evaluate);

}  // namespace xq
