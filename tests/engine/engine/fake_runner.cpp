#include "tests/engine/engine/fake_runner.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <thread>

#include "engine/sampling/logits_processor.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/token_logprobs.h"
#include "kernels/include/row_sampling.h"

namespace xq::test {

int32_t NextToken(const std::vector<int32_t>& history, int64_t vocab) {
  uint64_t h = 1469598103934665603ULL;
  for (int32_t t : history) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ULL;
  return static_cast<int32_t>((h >> 17) % static_cast<uint64_t>(vocab));
}

std::vector<int32_t> FakeContinuation(std::vector<int32_t> prompt, int64_t n, int64_t vocab) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(NextToken(prompt, vocab));
    prompt.push_back(out.back());
  }
  return out;
}

void FakeRunner::AllocateKv(const KvConfig& config) {
  config_ = config;
  storage_.block_tokens = config.layout.block_tokens;
  storage_.tokens.assign(config.num_blocks, std::vector<int32_t>(config.layout.block_tokens, -1));
}

// A window block's tokens live in its first page.
int32_t& FakeRunner::WindowSlot(const BatchInputs& in, int64_t s, int64_t pos) {
  const int64_t G = config_.layout.block_tokens, P = config_.layout.window_pages_per_block;
  const int64_t w = pos / G - in.window_start[s] / G;
  const int32_t page = in.window_pages.at(in.window_indptr[s] + w * P);
  return storage_.tokens.at(page).at(pos % G);
}

void FakeRunner::Hold() {
  std::lock_guard lock(hold_mutex_);
  held_ = true;
}

void FakeRunner::Release() {
  {
    std::lock_guard lock(hold_mutex_);
    held_ = false;
  }
  released_.notify_all();
}

void FakeRunner::Execute(const BatchInputs& in, std::vector<float>& logits) {
  {
    std::unique_lock lock(hold_mutex_);
    released_.wait(lock, [&] { return !held_; });
  }
  if (per_token_.count() > 0) std::this_thread::sleep_for(per_token_ * in.num_tokens());
  const int64_t G = config_.layout.block_tokens, P = config_.layout.window_pages_per_block;
  // Write the step's tokens into the window, then "quantize" the blocks that leave it.
  std::vector<int64_t> seq_of_row(in.num_tokens());
  for (int64_t s = 0; s < in.num_seqs(); ++s) {
    for (int64_t r = in.qo_indptr[s]; r < in.qo_indptr[s + 1]; ++r) {
      seq_of_row[r] = s;
      WindowSlot(in, s, in.positions[r]) = in.tokens[r];
    }
  }
  for (size_t j = 0; j < in.quantize_blocks.size(); ++j) {
    storage_.tokens.at(in.quantize_blocks[j]) = storage_.tokens.at(in.quantize_pages[j * P]);
  }
  // Each logits row reads its history as attention would: compressed blocks before the
  // frontier, the window after it.
  logits.assign(in.logits_rows.size() * vocab_, 0.0f);
  for (size_t i = 0; i < in.logits_rows.size(); ++i) {
    const int64_t row = in.logits_rows[i], s = seq_of_row[row];
    const int64_t pos = in.positions[row];
    const int64_t frontier = QuantizedFrontier(pos + 1, config_.recent_window, G);
    std::vector<int32_t> history;
    for (int64_t p = 0; p <= pos; ++p) {
      const int32_t t =
          p < frontier ? storage_.tokens.at(in.block_ids.at(in.block_indptr[s] + p / G)).at(p % G)
                       : WindowSlot(in, s, p);
      if (t < 0) throw std::logic_error("fake runner: read a slot nothing wrote");
      history.push_back(t);
    }
    logits[i * vocab_ + NextToken(history, vocab_)] = 10.0f;
  }
  SampleRows(in, logits);
  ++steps_;
}

void FakeRunner::SampleRows(const BatchInputs& in, std::vector<float>& logits) {
  sampled_tokens_.clear();
  sampled_logprobs_.clear();
  if (!samples_rows_) return;
  for (size_t i = 0; i < in.sampled_rows.size(); ++i) {
    const std::span<float> row(logits.data() + in.sampled_rows[i] * vocab_, vocab_);
    const RowSampling& s = in.row_sampling[i];
    prompt_rows_scored_ += s.given_token >= 0;
    const std::vector<float> raw(row.begin(), row.end());
    if (s.allowed_tokens >= 0) {
      const uint32_t* words =
          in.allowed_tokens.data() + s.allowed_tokens * AllowedTokenWords(vocab_);
      for (int64_t t = 0; t < vocab_; ++t) {
        if (!TokenAllowed(words, t)) row[t] = -std::numeric_limits<float>::infinity();
      }
    }
    ApplyLogitEdits(row, std::span(in.logit_edits)
                             .subspan(in.sampled_edit_indptr[i],
                                      in.sampled_edit_indptr[i + 1] - in.sampled_edit_indptr[i]));
    const int32_t token = SampleRowReference(row.data(), vocab_, s);
    sampled_tokens_.push_back(token);
    if (s.top_logprobs >= 0) {
      sampled_logprobs_.resize(in.sampled_rows.size());
      const TokenLogprobs lp =
          ComputeTokenLogprobs(s.raw_logprobs ? std::span<const float>(raw) : row, token,
                               s.top_logprobs, s.raw_logprobs ? 1.0f : s.logprobs_temperature);
      RowLogprobs& out = sampled_logprobs_[i];
      out = {lp.logprob, lp.rank, static_cast<int32_t>(lp.top.size()), {}, {}};
      for (size_t j = 0; j < lp.top.size(); ++j) {
        out.top_tokens[j] = lp.top[j].token;
        out.top_logprobs[j] = lp.top[j].logprob;
      }
    }
    std::fill(row.begin(), row.end(), std::numeric_limits<float>::quiet_NaN());
  }
  rows_sampled_by_runner_ += static_cast<int64_t>(in.sampled_rows.size());
}

}  // namespace xq::test
