// CudaModelRunner: the forward pass of a Llama-family decoder on one CUDA device, over the same
// ragged BatchInputs as the CPU runner: weights uploaded once (fp16 matrices, cuBLAS GEMMs over
// all the step's tokens at once), the paged XQuant KV arena in device memory, and the custom
// kernels of kernels/cuda for everything else. The host keeps all KV bookkeeping; each step
// uploads the batch's tables, runs the layers on one stream, and copies back only the rows of
// logits that were asked for: rows it samples as their token alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/runner/cuda/device_buffer.h"
#include "engine/runner/cuda/device_kv_storage.h"
#include "engine/runner/cuda/device_weights.h"
#include "engine/runner/model_runner.h"
#include "engine/runner/rope_table.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"

namespace xq {

// The device a CUDA runner would use, for the startup log and --device auto.
struct CudaDeviceInfo {
  bool available = false;
  std::string name;     // e.g. "NVIDIA H200"
  std::string why_not;  // when unavailable: the runtime's reason
  int64_t total_bytes = 0, free_bytes = 0;
};
CudaDeviceInfo ProbeCudaDevice();

class CudaModelRunner : public ModelRunner {
 public:
  explicit CudaModelRunner(const Model& model);  // model must outlive this
  ~CudaModelRunner() override;

  void AllocateKv(const KvConfig& config) override;
  KvStorage& kv_storage() override;
  void Execute(const BatchInputs& inputs, std::vector<float>& logits) override;
  bool SamplesRows() const override { return true; }
  std::span<const int32_t> sampled_tokens() const override { return sampled_tokens_; }
  std::span<const RowLogprobs> sampled_logprobs() const override { return sampled_logprobs_; }

  int64_t weight_bytes() const { return weights_.bytes; }
  int64_t dequantized_matrices() const { return weights_.dequantized; }

 private:
  struct StepTables;  // the batch's tables on the device
  void UploadTables(const BatchInputs& in);
  void PlanAttention(const BatchInputs& in);
  void Layer(const BatchInputs& in, int64_t layer);
  void Attend(const BatchInputs& in, int64_t layer);
  // y[n, out] (+)= x[n, in] * w^T, x converted to fp16 first.
  void MatMul(const float* x, int64_t n, int64_t in, const DeviceBuffer<uint16_t>& w, int64_t out,
              float* y, bool accumulate = false);
  void Logits(const BatchInputs& in, std::vector<float>& logits);
  void SampleRows(const BatchInputs& in);
  // The rows whose raw logprobs are wanted, copied before their edits; returns the slots.
  std::vector<int32_t> KeepRawRows(const BatchInputs& in);
  void ComputeLogprobs(const BatchInputs& in, const std::vector<int32_t>& raw_slots);
  void CopyRowsToHost(const BatchInputs& in, std::vector<float>& logits);
  void Reserve(int64_t tokens);

  const Model& model_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Gemm> gemm_;
  RopeTable rope_;
  DeviceBuffer<float> rope_divisors_;
  DeviceWeights weights_;
  KvConfig kv_;
  std::unique_ptr<DeviceKvStorage> storage_;
  DeviceBuffer<KvBlockLayout> layout_;
  std::unique_ptr<StepTables> tables_;
  // Activations, sized for the largest step seen.
  int64_t reserved_tokens_ = 0;
  DeviceBuffer<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, logits_;
  DeviceBuffer<uint16_t> half_;                // a GEMM's fp16 input
  cuda::AttentionSplit attention_split_;       // this step's, for every layer
  DeviceBuffer<float> attention_workspace_;    // the attention splits' partial results
  DeviceBuffer<float> raw_logits_;             // KeepRawRows' copies
  std::vector<int32_t> sampled_tokens_;        // the last step's, for inputs.sampled_rows
  std::vector<RowLogprobs> sampled_logprobs_;  // the same rows' (when any asked)
};

}  // namespace xq
