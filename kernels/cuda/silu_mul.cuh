// SwiGLU's gate: gate[i] = silu(gate[i]) * up[i], elementwise over [rows, ff].
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// Any grid and block covering n with a grid-stride loop.
__global__ void SiluMulKernel(float* gate, const float* up, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = gate[i];
    gate[i] = g / (1.0f + __expf(-g)) * up[i];
  }
}

}  // namespace xq::cuda
