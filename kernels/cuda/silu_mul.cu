#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/silu_mul.cuh"

namespace xq::cuda {

void LaunchSiluMul(float* gate, const float* up, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  XQ_LAUNCH(SiluMulKernel, ElementwiseBlocks(n), kElementwiseThreads, 0, stream, gate, up, n);
}

}  // namespace xq::cuda
