#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/synthetic_fill.cuh"

namespace xq::cuda {

void LaunchSyntheticFill(float* out, int64_t n, uint64_t seed, uint64_t stream, float scale,
                         cudaStream_t cuda_stream) {
  if (n <= 0) return;
  XQ_LAUNCH(SyntheticFillKernel<float>, ElementwiseBlocks(n), kElementwiseThreads, 0, cuda_stream,
            out, n, seed, stream, scale);
}

void LaunchSyntheticFill(uint16_t* out, int64_t n, uint64_t seed, uint64_t stream, float scale,
                         cudaStream_t cuda_stream) {
  if (n <= 0) return;
  XQ_LAUNCH(SyntheticFillKernel<uint16_t>, ElementwiseBlocks(n), kElementwiseThreads, 0,
            cuda_stream, out, n, seed, stream, scale);
}

}  // namespace xq::cuda
