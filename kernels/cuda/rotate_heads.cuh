// The KV rotation (kernels/include/xquant_rotation.h) of every head vector of [rows, heads *
// head_dim], in place, into the cache's basis or back. One thread per head vector: a head is
// at most a few hundred floats and RotateHead's sequential butterflies are the same float
// operations as the CPU runner's, so both backends write the same rotated rows.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/include/xquant_rotation.h"

namespace xq::cuda {

// Any grid and block covering `vectors` = rows * heads with a grid-stride loop.
__global__ void RotateHeadsKernel(float* x, int64_t vectors, int64_t head_dim, bool inverse) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    RotateHead(x + i * head_dim, head_dim, inverse);
  }
}

}  // namespace xq::cuda
