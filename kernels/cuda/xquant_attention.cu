#include "kernels/cuda/ops.h"
#include "kernels/cuda/xquant_attention.cuh"

namespace xq::cuda {

void LaunchXqAttention(const XqBatchAttentionParams& p, int64_t rows, int64_t head_dim,
                       cudaStream_t stream) {
  if (rows <= 0) return;
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(p.num_heads));
  XQ_LAUNCH(XqAttentionKernel, grid, AttentionThreads(head_dim), AttentionSharedBytes(head_dim),
            stream, p);
}

}  // namespace xq::cuda
