#include "engine/runner/cuda/graph_batch.h"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace xq {
namespace {

// One row per sequence, each row's logits wanted and sampled on the device, none copied raw
// before its edits and none coming back whole.
bool IsDeviceSampledDecode(const BatchInputs& in) {
  const int64_t n = in.num_tokens();
  if (n == 0 || in.num_seqs() != n) return false;
  if (static_cast<int64_t>(in.logits_rows.size()) != n ||
      static_cast<int64_t>(in.sampled_rows.size()) != n) {
    return false;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (in.logits_rows[i] != i || in.sampled_rows[i] != i) return false;
  }
  for (size_t b = 0; b < in.sampled_rows.size(); ++b) {
    if (NeedsRawCopy(in, b)) return false;
  }
  return true;
}

}  // namespace

bool NeedsRawCopy(const BatchInputs& in, size_t b) {
  const RowSampling& s = in.row_sampling[b];
  const bool edited = in.sampled_edit_indptr[b + 1] > in.sampled_edit_indptr[b];
  return s.top_logprobs >= 0 && s.raw_logprobs && (edited || s.allowed_tokens >= 0);
}

int64_t GraphBucket(const BatchInputs& in) {
  if (!IsDeviceSampledDecode(in)) return 0;
  const int64_t n = in.num_seqs();
  for (const int64_t bucket : kGraphBuckets) {
    // Padding brings the jobs up to the bucket, so they must fit in it (at most one block
    // leaves a sequence's window per decoded token: the bucket of the sequences almost always).
    if (bucket >= n && static_cast<int64_t>(in.quantize_blocks.size()) <= bucket) return bucket;
  }
  return 0;
}

int64_t GraphContextClass(int64_t longest_kv) {
  constexpr uint64_t kShortest = 256;
  return static_cast<int64_t>(
      std::max(kShortest, std::bit_ceil(static_cast<uint64_t>(std::max<int64_t>(longest_kv, 1)))));
}

cuda::AttentionSplit GraphAttentionSplit(int64_t bucket, int64_t num_kv_heads, int64_t longest_kv) {
  cuda::AttentionSplit split =
      cuda::PlanAttentionSplit(bucket, num_kv_heads, GraphContextClass(longest_kv));
  if (split.splits == 1) split.split_tokens = int64_t{1} << 40;  // beyond any context
  return split;
}

const BatchInputs& PadToBucket(const BatchInputs& in, int64_t bucket,
                               std::span<const int32_t> scratch_pages, BatchInputs& out) {
  out = in;
  for (int64_t row = in.num_tokens(); row < bucket; ++row) {
    out.tokens.push_back(0);
    out.positions.push_back(0);
    out.qo_indptr.push_back(row + 1);
    out.kv_len.push_back(1);
    out.block_indptr.push_back(out.block_indptr.back());
    out.window_pages.insert(out.window_pages.end(), scratch_pages.begin(), scratch_pages.end());
    out.window_indptr.push_back(static_cast<int64_t>(out.window_pages.size()));
    out.window_start.push_back(0);
    out.logits_rows.push_back(row);
    out.sampled_rows.push_back(row);
    out.sampled_edit_indptr.push_back(out.sampled_edit_indptr.back());
    out.row_sampling.emplace_back();  // greedy, no logprobs
  }
  while (static_cast<int64_t>(out.quantize_blocks.size()) < bucket) {
    out.quantize_pages.insert(out.quantize_pages.end(), scratch_pages.begin(), scratch_pages.end());
    out.quantize_blocks.push_back(-1);
  }
  return out;
}

}  // namespace xq
