// FakeRunner: a ModelRunner without a model whose logits are a deterministic function of what
// its KV storage holds. Each block (compressed block or window page) stores token ids instead of
// keys and values, written, quantized (copied) and read exactly where BatchInputs say, so a
// wrong block table, a lost fork copy or a bad prefix hit changes the output. The next token is
// NextToken(history): tests compute the expected continuation without the engine.
#pragma once

#include <chrono>
#include <cstdint>
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
  // reduce_greedy: sample inputs.greedy_rows here, as the CUDA runner does on the device, and
  // poison those rows of logits with NaN so that an engine reading them fails its tests.
  explicit FakeRunner(int64_t vocab, std::chrono::microseconds per_token = {},
                      bool reduce_greedy = false)
      : vocab_(vocab), per_token_(per_token), reduce_greedy_(reduce_greedy) {}

  void AllocateKv(const KvConfig& config) override;
  KvStorage& kv_storage() override { return storage_; }
  void Execute(const BatchInputs& in, std::vector<float>& logits) override;
  bool ReducesGreedyRows() const override { return reduce_greedy_; }
  std::span<const int32_t> greedy_tokens() const override { return greedy_tokens_; }
  int64_t steps() const { return steps_; }
  int64_t greedy_rows_sampled() const { return greedy_rows_sampled_; }

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
  void SampleGreedyRows(const BatchInputs& in, std::vector<float>& logits);

  int64_t vocab_;
  std::chrono::microseconds per_token_;
  KvConfig config_;
  TokenStorage storage_;
  bool reduce_greedy_;
  std::vector<int32_t> greedy_tokens_;
  int64_t steps_ = 0, greedy_rows_sampled_ = 0;
};

}  // namespace xq::test
