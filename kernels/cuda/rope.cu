#include "kernels/cuda/ops.h"
#include "kernels/cuda/rope.cuh"

namespace xq::cuda {

void LaunchRope(float* x, const int32_t* positions, int64_t rows, int64_t heads, int64_t head_dim,
                float theta_scale, float freq_scale, const float* freq_divisors,
                cudaStream_t stream) {
  if (rows <= 0) return;
  XQ_LAUNCH(RopeKernel, static_cast<unsigned>(rows), 128, 0, stream, x, positions, heads, head_dim,
            theta_scale, freq_scale, freq_divisors);
}

}  // namespace xq::cuda
