// A synthetic model's values generated in place on the device (kernels/include/synthetic_noise.h):
// out[i] = scale * SyntheticNoise(seed, stream, i), as fp32 or rounded to fp16, bitwise what the
// host generates and converts. Grid-stride.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/synthetic_noise.h"

namespace xq::cuda {

template <typename T>  // float, or uint16_t for fp16 bits
__global__ void SyntheticFillKernel(T* out, int64_t n, uint64_t seed, uint64_t stream,
                                    float scale) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const float v = scale * SyntheticNoise(seed, stream, static_cast<uint64_t>(i));
    if constexpr (sizeof(T) == 2) {
      out[i] = FloatToHalfBits(v);
    } else {
      out[i] = v;
    }
  }
}

}  // namespace xq::cuda
