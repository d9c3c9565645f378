#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/residual_add.cuh"

namespace xq::cuda {

void LaunchResidualAdd(float* x, const float* delta, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  XQ_LAUNCH(ResidualAddKernel, ElementwiseBlocks(n), kElementwiseThreads, 0, stream, x, delta, n);
}

}  // namespace xq::cuda
