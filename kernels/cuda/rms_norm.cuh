// RMSNorm over rows: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight. One block per row, the
// sum of squares reduced across the block in fp32 (warp shuffles, then one value per warp).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// grid = rows, block = a multiple of 32 threads, shared memory = 32 floats.
//   x, out: [rows, dim]; weight: [dim]
__global__ void RmsNormKernel(const float* x, const float* weight, float* out, int64_t dim,
                              float eps) {
  XQ_SHARED(float, scratch);
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * dim;
  float* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += xr[i] * xr[i];
  sum = BlockSum(sum, scratch);
  const float inv = rsqrtf(sum / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * inv * weight[i];
}

}  // namespace xq::cuda
