#include "kernels/cuda/bias_add.cuh"
#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchBiasAdd(float* x, const float* bias, int64_t rows, int64_t n, cudaStream_t stream) {
  const int64_t total = rows * n;
  if (total <= 0) return;
  XQ_LAUNCH(BiasAddKernel, ElementwiseBlocks(total), kElementwiseThreads, 0, stream, x, bias, n,
            total);
}

}  // namespace xq::cuda
