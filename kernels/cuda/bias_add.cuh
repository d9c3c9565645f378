// A bias broadcast over rows (Qwen2's Q/K/V biases): x[r, i] += bias[i], grid-stride.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

//   x: [rows, n]; bias: [n]; total = rows * n
__global__ void BiasAddKernel(float* x, const float* bias, int64_t n, int64_t total) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    x[i] += bias[i % n];
  }
}

}  // namespace xq::cuda
