// A matrix kept in GGML blocks, rows [0, rows) of it, as fp16 (for a cuBLAS GEMM over many
// rows of activations): bitwise what the host's DequantizeMatrixRow then fp16 rounding give.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/qweight_blocks.cuh"

namespace xq::cuda {

// grid * block >= groups (the slice's 32-value groups, rows after rows); one thread per group.
template <GgmlType T>
__global__ void DequantizeToHalfKernel(const uint8_t* w, int64_t groups, uint16_t* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups) return;
  float v[kGgmlBlock];
  DecodeRowGroup<T>(w, i, v);  // rows are whole blocks, so the slice is one run of groups
  XQ_UNROLL
  for (int j = 0; j < kGgmlBlock; ++j) out[i * kGgmlBlock + j] = FloatToHalfBits(v[j]);
}

}  // namespace xq::cuda
