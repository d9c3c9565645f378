// How much device memory the KV cache gets under --gpu-memory-utilization F (vLLM's meaning): F
// of the device's total memory is ours; the weights, the CUDA context and cuBLAS (in use once the
// runner is up) and the activations of the largest step come off it; the rest is the KV cache.
#pragma once

#include <cstdint>

#include "engine/model/model_config.h"

namespace xq {

// What the step's buffers leave out: CUDA graphs' executables, the graph padding's scratch window
// block, kernel launch state and allocator slack. (The runner's fixed allocations, cuBLAS's
// workspace, the dequantization scratch and the split GEMM's partial sums, are made with the
// weights, so they are in the memory already in use when the split is taken.)
inline constexpr int64_t kActivationMargin = int64_t{256} << 20;

// The CUDA runner computes logits rows this many at a time (a prefill chunk scored for prompt
// logprobs has a row per token).
inline constexpr int64_t kMaxLogitsRowsOnDevice = 256;

// Device bytes of one step's activations at most: the runner's per-token buffers for
// `max_batched_tokens` tokens or a CUDA graph's padded batch, logits rows (at most
// kMaxLogitsRowsOnDevice) and raw copies for `max_seqs` sequences, and the attention workspace,
// plus kActivationMargin.
int64_t StepActivationBytes(const ModelConfig& config, int64_t max_batched_tokens,
                            int64_t max_seqs);

struct GpuMemorySplit {
  int64_t total = 0, in_use = 0, activations = 0, kv_cache = 0;
};
// Throws xq::Error naming --gpu-memory-utilization when the fraction is outside (0, 1] or leaves
// nothing for the KV cache.
GpuMemorySplit SplitGpuMemory(double fraction, int64_t total_bytes, int64_t free_bytes,
                              int64_t activation_bytes);

}  // namespace xq
