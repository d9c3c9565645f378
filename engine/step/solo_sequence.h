// SoloSequence: one sequence run straight through a model runner and a KV manager, chunk by
// chunk, without the scheduler: for evaluation, benchmarks and tests. The engine's steps are
// built the same way (batch_builder.h).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/kv/kv_cache_manager.h"
#include "engine/runner/model_runner.h"
#include "engine/step/batch_builder.h"

namespace xq {

class SoloSequence {
 public:
  // runner's KV storage must be allocated for kv's pool; both must outlive this.
  SoloSequence(ModelRunner& runner, KvCacheManager& kv) : runner_(runner), kv_(kv) {}
  ~SoloSequence() { kv_.Release(seq_); }
  SoloSequence(const SoloSequence&) = delete;
  SoloSequence& operator=(const SoloSequence&) = delete;

  // Appends tokens (positions length() on) and returns the logits of the rows listed in
  // logits_rows (indices into tokens): [rows, vocab]. Throws KvCacheFull when the pool cannot
  // hold them (nothing is appended then).
  const std::vector<float>& Append(std::span<const int32_t> tokens,
                                   std::span<const int64_t> logits_rows);
  // Appends one token and returns its next-token logits.
  const std::vector<float>& Step(int32_t token);
  // Appends one token and returns the greedy next token (the row's first maximum): drawn where
  // the logits are when the runner SamplesRows, as the engine's decode steps are.
  int32_t StepGreedy(int32_t token);

  int64_t length() const { return seq_.length; }

 private:
  // Appends tokens with `rows` of logits, `ask` adding to the step's inputs, and runs the step.
  void Run(std::span<const int32_t> tokens, LogitRows rows,
           const std::function<void(BatchInputs&)>& ask);

  ModelRunner& runner_;
  KvCacheManager& kv_;
  SequenceKv seq_;
  BatchInputs inputs_;
  std::vector<float> logits_;
};

}  // namespace xq
