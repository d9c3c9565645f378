#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/rotate_heads.cuh"

namespace xq::cuda {

void LaunchRotateHeads(float* x, int64_t rows, int64_t heads, int64_t head_dim, bool inverse,
                       cudaStream_t stream) {
  const int64_t vectors = rows * heads;
  if (vectors <= 0) return;
  XQ_LAUNCH(RotateHeadsKernel, ElementwiseBlocks(vectors), kElementwiseThreads, 0, stream, x,
            vectors, head_dim, inverse);
}

}  // namespace xq::cuda
