// Token embedding gather: out[t] = table[tokens[t]], from an fp32 table or from a table kept in
// GGML blocks (decoded as the host decodes them: the same fp32 values).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/qweight_blocks.cuh"

namespace xq::cuda {

// grid = tokens, any block size.
//   tokens: [T]; table: [vocab, hidden]; out: [T, hidden]
__global__ void EmbeddingKernel(const int32_t* tokens, const float* table, float* out,
                                int64_t hidden) {
  const float* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * hidden;
  float* o = out + static_cast<int64_t>(blockIdx.x) * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = row[i];
}

// The same from a [vocab, hidden] table in blocks of T: a thread per 32-value group of the row.
template <GgmlType T>
__global__ void QEmbeddingKernel(const int32_t* tokens, const uint8_t* table, float* out,
                                 int64_t hidden) {
  const int64_t groups = hidden / kGgmlBlock;
  const uint8_t* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * QRowBytes(T, hidden);
  float* o = out + static_cast<int64_t>(blockIdx.x) * hidden;
  for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
    DecodeRowGroup<T>(row, g, o + g * kGgmlBlock);
  }
}

}  // namespace xq::cuda
