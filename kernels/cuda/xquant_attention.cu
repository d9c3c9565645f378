#include "kernels/cuda/ops.h"
#include "kernels/cuda/xquant_attention.cuh"

namespace xq::cuda {
namespace {

// CUDA blocks that keep a large GPU busy (a few per SM on an H100/H200's 132).
constexpr int64_t kTargetBlocks = 512;
// A split shorter than this costs more in merging than it gains in parallelism.
constexpr int64_t kMinSplitTokens = 64;

}  // namespace

AttentionSplit PlanAttentionSplit(int64_t rows, int64_t num_kv_heads, int64_t max_kv_len) {
  const int64_t len = max_kv_len > 1 ? max_kv_len : 1;
  const int64_t parallel = rows * num_kv_heads > 1 ? rows * num_kv_heads : 1;
  int64_t splits = (kTargetBlocks + parallel - 1) / parallel;
  const int64_t most = (len + kMinSplitTokens - 1) / kMinSplitTokens;
  if (splits > most) splits = most;
  if (splits < 1) splits = 1;
  AttentionSplit plan;
  plan.split_tokens = (len + splits - 1) / splits;
  plan.splits = (len + plan.split_tokens - 1) / plan.split_tokens;
  return plan;
}

int64_t AttentionWorkspaceFloats(int64_t rows, int64_t num_heads, int64_t head_dim,
                                 const AttentionSplit& split) {
  return AttentionPartialFloats(rows, num_heads, head_dim, split.splits);
}

void LaunchXqAttention(const XqBatchAttentionParams& p, int64_t rows, int64_t head_dim,
                       int64_t num_kv_heads, const AttentionSplit& split, float* workspace,
                       cudaStream_t stream) {
  if (rows <= 0) return;
  const dim3 partial_grid(static_cast<unsigned>(rows), static_cast<unsigned>(num_kv_heads),
                          static_cast<unsigned>(split.splits));
  const unsigned threads = kAttentionWarps * kWarpSize;
  const size_t shared = AttentionPartialSharedBytes(head_dim);
  // Channels per lane, rounded up to an instantiated C.
  if (head_dim <= 32) {
    XQ_LAUNCH(XqAttentionPartialKernel<1>, partial_grid, threads, shared, stream, p,
              split.split_tokens, split.splits, workspace);
  } else if (head_dim <= 64) {
    XQ_LAUNCH(XqAttentionPartialKernel<2>, partial_grid, threads, shared, stream, p,
              split.split_tokens, split.splits, workspace);
  } else if (head_dim <= 128) {
    XQ_LAUNCH(XqAttentionPartialKernel<4>, partial_grid, threads, shared, stream, p,
              split.split_tokens, split.splits, workspace);
  } else {
    XQ_LAUNCH(XqAttentionPartialKernel<8>, partial_grid, threads, shared, stream, p,
              split.split_tokens, split.splits, workspace);
  }
  const dim3 merge_grid(static_cast<unsigned>(rows), static_cast<unsigned>(p.num_heads));
  XQ_LAUNCH(XqAttentionMergeKernel, merge_grid, 64, 0, stream, p, split.split_tokens, split.splits,
            static_cast<const float*>(workspace));
}

}  // namespace xq::cuda
