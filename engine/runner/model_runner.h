// ModelRunner: the backend seam. Executes one step described by BatchInputs over KV storage it
// owns; the CPU runner is the forward pass in cpu_model_runner.h, a CUDA runner comes next.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/runner/batch_inputs.h"
#include "engine/runner/kv_storage.h"
#include "kernels/include/row_logprobs.h"
#include "kernels/include/xquant_format.h"

namespace xq {

// How the KV cache is laid out: fixed for the runner's lifetime.
struct KvConfig {
  KvBlockLayout layout;
  int64_t recent_window = 0;  // R
  int32_t num_blocks = 0;     // pool size (compressed blocks and window pages alike)
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  // Allocates the KV storage the steps read and write.
  virtual void AllocateKv(const KvConfig& config) = 0;
  virtual KvStorage& kv_storage() = 0;
  // Runs the step; logits: [inputs.logits_rows.size(), vocab_size] (resized). Throws xq::Error
  // on inputs that do not describe a valid step.
  virtual void Execute(const BatchInputs& inputs, std::vector<float>& logits) = 0;

  // Whether Execute honours inputs.sampled_rows: it draws their tokens where the logits are
  // (sampled_tokens(), in the order of sampled_rows) and leaves those rows of `logits`
  // unspecified, so only a token per row crosses from the device. Others ignore sampled_rows.
  virtual bool SamplesRows() const { return false; }
  // The last step's tokens for inputs.sampled_rows (runners that SamplesRows).
  virtual std::span<const int32_t> sampled_tokens() const { return {}; }
  // The same rows' logprobs, where their RowSampling asked (top_logprobs >= 0); empty when no
  // row of the step asked.
  virtual std::span<const RowLogprobs> sampled_logprobs() const { return {}; }
};

}  // namespace xq
