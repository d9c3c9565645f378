// CudaModelRunner: the forward pass of a Llama-family decoder on one CUDA device, over the same
// ragged BatchInputs as the CPU runner: weights uploaded once (fp16 matrices, cuBLAS GEMMs over
// all the step's tokens at once), the paged XQuant KV arena in device memory, and the custom
// kernels of kernels/cuda for everything else. The host keeps all KV bookkeeping; each step
// uploads the batch's tables (one transfer), runs the layers on one stream, and copies back only
// the rows of logits that were asked for: rows it samples as their token alone. Decode steps run as
// CUDA graphs, one per batch-size bucket (graph_batch.h), captured at a shape's second step
// (decode_graphs.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/runner/cuda/decode_graphs.h"
#include "engine/runner/cuda/device_buffer.h"
#include "engine/runner/cuda/device_kv_storage.h"
#include "engine/runner/cuda/device_weights.h"
#include "engine/runner/cuda/step_table_arena.h"
#include "engine/runner/gpu_memory.h"
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

struct CudaRunnerOptions {
  bool graphs = true;  // decode steps as CUDA graphs (off: every launch from the host)
  // Logits rows on the device at once (gpu_memory.h counts this many).
  int64_t logits_chunk_rows = kMaxLogitsRowsOnDevice;
  // Prefill attention tiles on tensor cores (fp16 products); off: on CUDA cores, where a row's
  // result is bitwise what it would be in a decode step.
  bool tensor_core_prefill = true;
  // GGUF Q4_0 / Q4_1 / Q8_0 matrices stay in their blocks on the device (off: fp16, as other
  // matrices).
  bool keep_quantized_weights = true;
  int64_t dequantize_slice_elements = kDequantizeSliceElements;
};

class CudaModelRunner : public ModelRunner {
 public:
  // model must outlive this
  explicit CudaModelRunner(const Model& model, CudaRunnerOptions options = {});
  ~CudaModelRunner() override;

  void AllocateKv(const KvConfig& config) override;
  KvStorage& kv_storage() override;
  void Execute(const BatchInputs& inputs, std::vector<float>& logits) override;
  bool SamplesRows() const override { return true; }
  std::span<const int32_t> sampled_tokens() const override { return sampled_tokens_; }
  std::span<const RowLogprobs> sampled_logprobs() const override { return sampled_logprobs_; }

  int64_t weight_bytes() const { return weights_.bytes; }
  int64_t quantized_matrices() const { return weights_.quantized; }  // kept in GGML blocks
  int64_t fp16_matrices() const { return weights_.fp16; }
  const CudaGraphStats& graph_stats() const { return graphs_.stats(); }

 private:
  struct StepTables;  // the batch's tables on the device

  // Before any kernel of the step: every allocation and upload (a graph holds kernels only).
  // graph_bucket: the padded size of a graph step, 0 for an eager one.
  void PrepareStep(const BatchInputs& in, int64_t graph_bucket);
  void Reserve(int64_t tokens);
  void StageTables(const BatchInputs& in);
  void ReserveSampling(const BatchInputs& in);
  void PlanTiles(const BatchInputs& in);
  // The step's kernels, in order on the stream: from the tables to sampled tokens; rows that
  // are not sampled are copied into host_logits ([logits rows, vocab]) on the way.
  void Forward(const BatchInputs& in, float* host_logits);
  void Layer(const BatchInputs& in, int64_t layer);
  void Attend(const BatchInputs& in, int64_t layer);
  // y[n, out] (+)= x[n, in] * w^T, x converted to fp16 first.
  // y: [n, out] (+)= x: [n, in] * w^T, whichever form w has on the device.
  void MatMul(const float* x, int64_t n, int64_t in, const DeviceMatrix& w, int64_t out, float* y,
              bool accumulate = false);
  void Logits(const BatchInputs& in, float* host_logits);
  void SampleRows(const BatchInputs& in, int64_t first, size_t b0, size_t b1);
  void KeepRawRows(const BatchInputs& in, int64_t first, size_t b0, size_t b1);
  void CopyRowsToHost(const BatchInputs& in, int64_t first, int64_t count, size_t b0, size_t b1,
                      float* host_logits);
  // A padded decode step from its graph (captured the second time its shape is seen, or again
  // when a buffer it reads moved).
  void RunGraph(const BatchInputs& padded, float* host_logits);
  std::vector<const void*> StepAddresses() const;
  // After the kernels: the sampled tokens and logprobs, for the real rows of `batch` only.
  void CopyResults(const BatchInputs& batch);

  const Model& model_;
  CudaRunnerOptions options_;

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
  cuda::AttentionTiles attention_tiles_;       // the same
  DeviceBuffer<float> attention_workspace_;    // the attention splits' partial results
  DeviceBuffer<float> raw_logits_;             // KeepRawRows' copies
  std::vector<int32_t> raw_slots_;             // per sampled row: its raw copy, or -1
  std::vector<int32_t> sampled_tokens_;        // the last step's, for inputs.sampled_rows
  std::vector<RowLogprobs> sampled_logprobs_;  // the same rows' (when any asked)
  // Decode graphs: the padded step, the scratch window block its padding rows write, and the
  // captured steps.
  BatchInputs padded_;
  std::vector<int32_t> scratch_pages_;
  DecodeGraphs graphs_;
};

}  // namespace xq
