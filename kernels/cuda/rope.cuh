// Rotate-half RoPE in place on [rows, heads * head_dim], row r at positions[r]. The angle of
// pair i is position * theta_scale^i built by repeated float multiplication, as the CPU runner
// and llama.cpp do, times freq_scale and divided by freq_divisors[i] (llama3 scaling or GGUF
// rope_freqs; all 1 otherwise).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// grid = rows, any block size.
__global__ void RopeKernel(float* x, const int32_t* positions, int64_t heads, int64_t head_dim,
                           float theta_scale, float freq_scale, const float* freq_divisors) {
  const int64_t half = head_dim / 2;
  float* row = x + static_cast<int64_t>(blockIdx.x) * heads * head_dim;
  const float position = static_cast<float>(positions[blockIdx.x]);
  for (int64_t p = threadIdx.x; p < heads * half; p += blockDim.x) {
    const int64_t h = p / half, i = p % half;
    float theta = position;
    for (int64_t k = 0; k < i; ++k) theta *= theta_scale;
    const float angle = freq_scale * (theta / freq_divisors[i]);
    const float c = cosf(angle), s = sinf(angle);
    float* v = row + h * head_dim;
    const float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = a * s + b * c;
  }
}

}  // namespace xq::cuda
