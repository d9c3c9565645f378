// Token embedding gather: out[t] = table[tokens[t]] for fp32 tables (quantized GGUF embeddings
// are dequantized when the weights are uploaded).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// grid = tokens, any block size.
//   tokens: [T]; table: [vocab, hidden]; out: [T, hidden]
__global__ void EmbeddingKernel(const int32_t* tokens, const float* table, float* out,
                                int64_t hidden) {
  const float* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * hidden;
  float* o = out + static_cast<int64_t>(blockIdx.x) * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = row[i];
}

}  // namespace xq::cuda
