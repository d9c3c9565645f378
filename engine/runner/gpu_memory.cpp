#include "engine/runner/gpu_memory.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <string>

#include "engine/common/error.h"

namespace xq {
namespace {

// The attention kernel's workspace: at most kTargetBlocks-worth of splits per step (see
// kernels/cuda/xquant_attention.cu), each (head_dim + 2) floats per query head of a KV head.
constexpr int64_t kAttentionSplitsBound = 512;

std::string GiB(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

}  // namespace

int64_t StepActivationBytes(const ModelConfig& c, int64_t max_batched_tokens, int64_t max_seqs) {
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim;
  const int64_t kv = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;
  // fp32 x, xn, q, k, v, attn, gate, up per token, and the fp16 GEMM input.
  const int64_t per_token = 4 * (2 * h + 2 * q + 2 * kv + 2 * ff) + 2 * std::max({h, q, ff});
  // A decode step of up to 256 sequences runs padded to its graph's size (graph_batch.h: never
  // above the next power of two).
  const int64_t padded_seqs =
      max_seqs <= 256 ? static_cast<int64_t>(
                            std::bit_ceil(static_cast<uint64_t>(std::max<int64_t>(max_seqs, 1))))
                      : max_seqs;
  const int64_t tokens = std::max(max_batched_tokens, padded_seqs);
  const int64_t logits_rows = std::min(tokens, kMaxLogitsRowsOnDevice);
  const int64_t logits = 4 * (logits_rows + max_seqs) * c.vocab_size;  // and the raw copies
  const int64_t group = c.num_kv_heads > 0 ? c.num_heads / c.num_kv_heads : 1;
  const int64_t attention =
      4 * std::max<int64_t>(tokens * c.num_heads, kAttentionSplitsBound * group) * (c.head_dim + 2);
  return per_token * tokens + logits + attention + kActivationMargin;
}

GpuMemorySplit SplitGpuMemory(double fraction, int64_t total_bytes, int64_t free_bytes,
                              int64_t activation_bytes) {
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    throw Error("--gpu-memory-utilization: must be in (0, 1]");
  }
  GpuMemorySplit s;
  s.total = total_bytes;
  s.in_use = total_bytes - free_bytes;
  s.activations = activation_bytes;
  s.kv_cache =
      static_cast<int64_t>(fraction * static_cast<double>(total_bytes)) - s.in_use - s.activations;
  if (s.kv_cache <= 0) {
    throw Error("--gpu-memory-utilization " + std::to_string(fraction) + ": " +
                GiB(static_cast<int64_t>(fraction * static_cast<double>(total_bytes))) +
                " of the device's " + GiB(total_bytes) + " leaves nothing for the KV cache (" +
                GiB(s.in_use) + " in use by the weights and CUDA, " + GiB(s.activations) +
                " for activations)");
  }
  return s;
}

}  // namespace xq
