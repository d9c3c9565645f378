// FakeRunner: a ModelRunner without a model whose logits are a deterministic function of what
// its KV storage holds. Each block (compressed block or window page) stores token ids instead of
// keys and values, written, quantized (copied) and read exactly where BatchInputs say, so a
// wrong block table, a lost fork copy or a bad prefix hit changes the output. The next token is
// NextToken(history): tests compute the expected continuation without the engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "engine/runner/model_runner.h"

namespace xq::test {

// The fake model: a hash of every token so far picks the next one.
int32_t NextToken(const std::vector<int32_t>& history, int64_t vocab);
// The greedy continuation of `prompt` for n tokens.
std::vector<int32_t> FakeContinuation(std::vector<int32_t> prompt, int64_t n, int64_t vocab);

class FakeRunner : public ModelRunner {
 public:
  // per_token: how long each step takes per token, so timing-driven policies see real steps.
  // samples_rows: sample inputs.sampled_rows here (and their logprobs), as the CUDA runner does
  // on the device, and
  // poison those rows of logits with NaN so that an engine reading them fails its tests.
  explicit FakeRunner(int64_t vocab, std::chrono::microseconds per_token = {},
                      bool samples_rows = false)
      : vocab_(vocab), per_token_(per_token), samples_rows_(samples_rows) {}

  void AllocateKv(const KvConfig& config) override;
  KvStorage& kv_storage() override { return storage_; }
  void Execute(const BatchInputs& in, std::vector<float>& logits) override;
  bool SamplesRows() const override { return samples_rows_; }
  std::span<const int32_t> sampled_tokens() const override { return sampled_tokens_; }
  std::span<const RowLogprobs> sampled_logprobs() const override { return sampled_logprobs_; }
  int64_t steps() const { return steps_; }
  // While held, Execute waits: a test queues all its requests before the engine's first step
  // ends, so how many run at once does not depend on thread timing.
  void Hold();
  void Release();
  int64_t rows_sampled_by_runner() const { return rows_sampled_by_runner_; }
  // Of those, prompt rows scored for their given token (prompt logprobs).
  int64_t prompt_rows_scored() const { return prompt_rows_scored_; }

 private:
  class TokenStorage : public KvStorage {
   public:
    uint8_t* arena() override { return nullptr; }
    int64_t block_bytes() const override { return block_tokens * 4; }
    int32_t num_blocks() const override { return static_cast<int32_t>(tokens.size()); }
    void CopyBlock(int32_t src, int32_t dst) override { tokens.at(dst) = tokens.at(src); }

    int64_t block_tokens = 0;
    std::vector<std::vector<int32_t>> tokens;  // [block][slot]; -1 = never written
  };
  int32_t& WindowSlot(const BatchInputs& in, int64_t s, int64_t pos);
  void SampleRows(const BatchInputs& in, std::vector<float>& logits);

  int64_t vocab_;
  std::chrono::microseconds per_token_;
  KvConfig config_;
  TokenStorage storage_;
  bool samples_rows_;
  std::vector<int32_t> sampled_tokens_;
  std::vector<RowLogprobs> sampled_logprobs_;
  int64_t steps_ = 0, rows_sampled_by_runner_ = 0, prompt_rows_scored_ = 0;
  std::mutex hold_mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

}  // namespace xq::test
