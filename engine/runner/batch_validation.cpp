#include "engine/runner/batch_validation.h"

#include <cmath>
#include <string>

#include "engine/common/error.h"

namespace xq {

void ValidateKvConfig(const KvConfig& kv, const ModelConfig& c) {
  const KvBlockLayout& l = kv.layout;
  if (l.num_layers != c.num_layers || l.num_kv_heads != c.num_kv_heads ||
      l.head_dim != c.head_dim) {
    throw Error("KV layout does not match the model's shape");
  }
}

namespace {

template <typename Fail>
void ValidateSampledRows(const BatchInputs& in, int64_t vocab, const Fail& fail) {
  const auto& rows = in.sampled_rows;
  const auto& indptr = in.sampled_edit_indptr;
  if (rows.empty() && indptr.size() <= 1 && in.logit_edits.empty() && in.row_sampling.empty() &&
      in.allowed_tokens.empty()) {
    return;
  }
  if (in.row_sampling.size() != rows.size()) fail("row_sampling differs from sampled_rows in size");
  const int64_t words = AllowedTokenWords(vocab);
  if (in.allowed_tokens.size() % words != 0) fail("allowed_tokens is not whole bitmasks");
  const auto masks = static_cast<int64_t>(in.allowed_tokens.size()) / words;
  if (indptr.size() != rows.size() + 1 || indptr.front() != 0 ||
      indptr.back() != static_cast<int64_t>(in.logit_edits.size())) {
    fail("sampled_edit_indptr does not cover logit_edits for every sampled row");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (indptr[i + 1] < indptr[i]) fail("sampled_edit_indptr decreases");
    if (rows[i] < 0 || rows[i] >= static_cast<int64_t>(in.logits_rows.size()) ||
        (i > 0 && rows[i] <= rows[i - 1])) {
      fail("sampled rows must be increasing rows of logits_rows");
    }
    const RowSampling& s = in.row_sampling[i];
    // What SamplingParams::Validate checks, and a uniform in [0, 1).
    if (!(s.temperature >= 0.0f) || !std::isfinite(s.temperature) || s.top_k < 0 ||
        !(s.top_p > 0.0f && s.top_p <= 1.0f) || !(s.min_p >= 0.0f && s.min_p <= 1.0f) ||
        !(s.uniform >= 0.0 && s.uniform < 1.0) || s.top_logprobs > kMaxRowTopLogprobs ||
        (s.top_logprobs >= 0 && !s.raw_logprobs && !(s.logprobs_temperature > 0.0f)) ||
        s.allowed_tokens >= masks || s.given_token >= vocab) {
      fail("row_sampling[" + std::to_string(i) + "] is out of range");
    }
  }
  for (const LogitEdit& e : in.logit_edits) {
    const auto kind = static_cast<int32_t>(e.kind);
    if (kind < 0 || kind >= kLogitEditKinds) fail("logit edit of unknown kind");
  }
}

}  // namespace

void ValidateBatchInputs(const BatchInputs& in, const ModelConfig& c, const KvConfig& kv) {
  const int64_t n = in.num_tokens(), seqs = in.num_seqs();
  auto fail = [](const std::string& what) { throw Error("batch inputs: " + what); };
  if (static_cast<int64_t>(in.positions.size()) != n) fail("positions and tokens differ in size");
  if (static_cast<int64_t>(in.qo_indptr.size()) != seqs + 1 ||
      static_cast<int64_t>(in.block_indptr.size()) != seqs + 1 ||
      static_cast<int64_t>(in.window_indptr.size()) != seqs + 1 ||
      static_cast<int64_t>(in.window_start.size()) != seqs) {
    fail("per-sequence arrays disagree on the number of sequences");
  }
  if (in.qo_indptr.front() != 0 || in.qo_indptr.back() != n) {
    fail("sequences do not cover the tokens exactly");
  }
  if (in.block_indptr.front() != 0 ||
      in.block_indptr.back() != static_cast<int64_t>(in.block_ids.size()) ||
      in.window_indptr.front() != 0 ||
      in.window_indptr.back() != static_cast<int64_t>(in.window_pages.size())) {
    fail("block tables do not cover the block ids exactly");
  }
  const int64_t G = kv.layout.block_tokens, P = kv.layout.window_pages_per_block;
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t rows = in.qo_indptr[s + 1] - in.qo_indptr[s];
    const int64_t blocks = in.block_indptr[s + 1] - in.block_indptr[s];
    const int64_t pages = in.window_indptr[s + 1] - in.window_indptr[s];
    const int64_t L = in.kv_len[s], start = in.window_start[s];
    if (rows < 0 || rows > L || start % G != 0 || start > L - rows ||
        QuantizedFrontier(L, kv.recent_window, G) > blocks * G ||
        pages != (SinkBlocksHeld(kv.layout, start / G) + (L - start + G - 1) / G) * P) {
      fail("sequence " + std::to_string(s) + " has an inconsistent KV description");
    }
  }
  const int32_t num_blocks = kv.num_blocks;
  for (const auto* ids :
       {&in.block_ids, &in.window_pages, &in.quantize_pages, &in.quantize_blocks}) {
    for (int32_t b : *ids) {
      if (b < 0 || b >= num_blocks) fail("block id " + std::to_string(b) + " out of range");
    }
  }
  if (static_cast<int64_t>(in.quantize_pages.size()) !=
      static_cast<int64_t>(in.quantize_blocks.size()) * P) {
    fail("quantize jobs: pages and blocks disagree");
  }
  for (int32_t t : in.tokens) {
    if (t < 0 || t >= c.vocab_size) {
      fail("token id " + std::to_string(t) + " outside the vocabulary");
    }
  }
  for (int64_t r : in.logits_rows) {
    if (r < 0 || r >= n) fail("logits row out of range");
  }
  ValidateSampledRows(in, c.vocab_size, fail);
}

}  // namespace xq
