#include <stdexcept>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/xquant_attention.cuh"
#include "kernels/cuda/xquant_attention_mma.cuh"

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

AttentionTilePlan PlanAttentionTiles(const std::vector<int64_t>& qo_indptr,
                                     const std::vector<int64_t>& kv_len, int64_t num_heads,
                                     int64_t num_kv_heads, int64_t head_dim, int64_t recent_window,
                                     int64_t block_tokens, TileKernel kernel) {
  AttentionTilePlan plan;
  plan.kernel = kernel;
  const int64_t group = num_kv_heads > 0 ? num_heads / num_kv_heads : 0;
  const int64_t pairs = kernel == TileKernel::kTensorCores ? kMmaTilePairs : kTilePairs;
  const int64_t per_tile = group > 0 ? pairs / group : 0;
  const bool tiling = per_tile >= 2 && head_dim <= kMaxTileHeadDim;
  const auto frontier = [&](int64_t pos) {
    return QuantizedFrontier(pos + 1, recent_window, block_tokens);
  };
  for (size_t s = 0; s + 1 < qo_indptr.size(); ++s) {
    const int64_t first = qo_indptr[s], n = qo_indptr[s + 1] - first;
    const int64_t first_pos = kv_len[s] - n;
    for (int64_t r = 0; r < n;) {
      const int64_t start = r;
      if (tiling) {
        while (r < n && r - start < per_tile &&
               frontier(first_pos + r) == frontier(first_pos + start)) {
          ++r;
        }
      } else {
        ++r;
      }
      if (r - start >= 2) {
        plan.tiles.push_back(static_cast<int32_t>(first + start));
        plan.tiles.push_back(static_cast<int32_t>(r - start));
      } else {
        plan.rows.push_back(static_cast<int32_t>(first + start));
      }
    }
  }
  return plan;
}

namespace {

// The partial kernels for C channels per lane: tiles first, then the rows in none.
template <int C>
void LaunchPartials(const XqBatchAttentionParams& p, int64_t rows, int64_t head_dim,
                    int64_t num_kv_heads, const AttentionSplit& split, const AttentionTiles& tiles,
                    float* workspace, cudaStream_t stream) {
  const unsigned threads = kAttentionWarps * kWarpSize;
  const auto heads = static_cast<unsigned>(num_kv_heads);
  const auto splits = static_cast<unsigned>(split.splits);
  if constexpr (C * kWarpSize <= kMaxTileHeadDim) {
    const dim3 grid(static_cast<unsigned>(tiles.count), heads, splits);
    if (tiles.count > 0 && tiles.kernel == TileKernel::kTensorCores) {
      constexpr int kPaddedDim = C * kWarpSize;  // 32, 64 or 128: whole MMA k-steps
      XQ_LAUNCH(XqAttentionMmaKernel<kPaddedDim>, grid, kMmaWarps * kWarpSize,
                AttentionMmaSharedBytes(kPaddedDim), stream, p, tiles.tiles, split.split_tokens,
                split.splits, rows, workspace);
    } else if (tiles.count > 0) {
      XQ_LAUNCH(XqAttentionTileKernel<C>, grid, threads, AttentionTileSharedBytes(head_dim), stream,
                p, tiles.tiles, split.split_tokens, split.splits, rows, workspace);
    }
  } else {
    if (tiles.count > 0) throw std::invalid_argument("attention tiles: head_dim above 128");
  }
  const int64_t alone = tiles.count > 0 ? tiles.row_count : rows;
  if (alone > 0) {
    XQ_LAUNCH(XqAttentionPartialKernel<C>, dim3(static_cast<unsigned>(alone), heads, splits),
              threads, AttentionPartialSharedBytes(head_dim), stream, p, split.split_tokens,
              split.splits, tiles.count > 0 ? tiles.rows : nullptr, rows, workspace);
  }
}

}  // namespace

void LaunchXqAttention(const XqBatchAttentionParams& p, int64_t rows, int64_t head_dim,
                       int64_t num_kv_heads, const AttentionSplit& split, float* workspace,
                       cudaStream_t stream, const AttentionTiles& tiles) {
  if (rows <= 0) return;
  // Channels per lane, rounded up to an instantiated C.
  if (head_dim <= 32) {
    LaunchPartials<1>(p, rows, head_dim, num_kv_heads, split, tiles, workspace, stream);
  } else if (head_dim <= 64) {
    LaunchPartials<2>(p, rows, head_dim, num_kv_heads, split, tiles, workspace, stream);
  } else if (head_dim <= 128) {
    LaunchPartials<4>(p, rows, head_dim, num_kv_heads, split, tiles, workspace, stream);
  } else {
    LaunchPartials<8>(p, rows, head_dim, num_kv_heads, split, tiles, workspace, stream);
  }
  const dim3 merge_grid(static_cast<unsigned>(rows), static_cast<unsigned>(p.num_heads));
  XQ_LAUNCH(XqAttentionMergeKernel, merge_grid, 64, 0, stream, p, split.split_tokens, split.splits,
            static_cast<const float*>(workspace));
}

}  // namespace xq::cuda
