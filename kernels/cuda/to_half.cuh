// fp32 activations to fp16 (round to nearest even) as the GEMMs' inputs, grid-stride.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

//   x: [n] fp32; out: [n] fp16 bits
__global__ void ToHalfKernel(const float* x, uint16_t* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = FloatToHalfBits(x[i]);
  }
}

}  // namespace xq::cuda
