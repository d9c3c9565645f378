#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/to_half.cuh"

namespace xq::cuda {

void LaunchToHalf(const float* x, uint16_t* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  XQ_LAUNCH(ToHalfKernel, ElementwiseBlocks(n), kElementwiseThreads, 0, stream, x, out, n);
}

}  // namespace xq::cuda
