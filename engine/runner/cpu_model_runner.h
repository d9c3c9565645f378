// CpuModelRunner: the CPU forward pass of a Llama-family decoder (llama, mistral, qwen2) over a
// flattened, ragged batch of tokens from many sequences, with the paged XQuant KV cache in a
// host arena. Per layer, attention is one batched call over all sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/runner/host_kv_storage.h"
#include "engine/runner/model_runner.h"
#include "engine/runner/rope_table.h"

namespace xq {

class CpuModelRunner : public ModelRunner {
 public:
  explicit CpuModelRunner(const Model& model);  // model must outlive this

  void AllocateKv(const KvConfig& config) override;
  KvStorage& kv_storage() override;
  void Execute(const BatchInputs& inputs, std::vector<float>& logits) override;

 private:
  void Attend(const BatchInputs& in, int64_t layer);
  void MatMul(const float* x, int64_t rows, int64_t in, const Tensor& w, float* y,
              bool accumulate = false);

  const Model& model_;
  RopeTable rope_;
  KvConfig kv_;
  std::unique_ptr<HostKvStorage> storage_;
  std::vector<uint8_t> activations_q8_;  // [rows, in / 32] 8-bit activation blocks
  // Scratch activations, sized for the largest batch seen.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_;
};

}  // namespace xq
