// The residual connection: x[i] += delta[i], elementwise.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// Any grid and block covering n with a grid-stride loop.
__global__ void ResidualAddKernel(float* x, const float* delta, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    x[i] += delta[i];
  }
}

}  // namespace xq::cuda
