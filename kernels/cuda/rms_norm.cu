#include "kernels/cuda/ops.h"
#include "kernels/cuda/rms_norm.cuh"

namespace xq::cuda {

void LaunchRmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim,
                   float eps, cudaStream_t stream) {
  if (rows <= 0) return;
  constexpr unsigned kThreads = 256;
  XQ_LAUNCH(RmsNormKernel, static_cast<unsigned>(rows), kThreads, 32 * sizeof(float), stream, x,
            weight, out, dim, eps);
}

}  // namespace xq::cuda
