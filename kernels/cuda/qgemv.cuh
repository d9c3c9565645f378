// y[rows, out] (+)= x[rows, in] * w[out, in]^T for a matrix kept in GGML blocks and a handful of
// rows (decode): the weights are read once for all rows, straight from their blocks, rather than
// dequantized into an fp16 copy first. x is fp16 (what the GEMMs take), sums fp32. Each weight is
// rounded to fp16 as the tensor-core GEMM and the dequantized slices take it, so the three paths
// form the same products and a sequence's logits do not jump when its batch outgrows the GEMV.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/half_vectors.cuh"
#include "kernels/cuda/qweight_blocks.cuh"

namespace xq::cuda {

inline constexpr int kQGemvWarps = 4;

// grid = ceil(out / kQGemvWarps), block = kQGemvWarps * 32; rows <= R. Warp w of CUDA block b
// computes output feature b * kQGemvWarps + w: its lanes take the row's 32-value groups lane,
// lane + 32, ..., decode each once and meet it with every row's 32 activations; the lanes' sums
// are added across the warp.
template <GgmlType T, int R>
__global__ void QGemvKernel(const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                            int64_t rows, float* y, bool accumulate) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kQGemvWarps + threadIdx.x / kWarpSize;
  if (o >= out) return;  // the whole warp (no barrier in this kernel)
  const int64_t groups = in / kGgmlBlock;
  const uint8_t* row = w + o * QRowBytes(T, in);
  float acc[R];
  XQ_UNROLL
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  for (int64_t b = lane; b < groups; b += kWarpSize) {
    float v[kGgmlBlock];
    DecodeRowGroup<T>(row, b, v);
    XQ_UNROLL
    for (int j = 0; j < kGgmlBlock; ++j) v[j] = RoundHalf(v[j]);
    XQ_UNROLL
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      // The group's 32 activations in four 16-byte loads (64 bytes in: in is a multiple of 32).
      alignas(16) uint16_t xr[kGgmlBlock];
      XQ_UNROLL
      for (int j = 0; j < kGgmlBlock; j += 8) CopyHalves8(xr + j, x + r * in + b * kGgmlBlock + j);
      XQ_UNROLL
      for (int j = 0; j < kGgmlBlock; ++j) acc[r] += v[j] * HalfBitsToFloat(xr[j]);
    }
  }
  XQ_UNROLL
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
    const float sum = WarpSum(acc[r]);
    if (lane == 0) y[r * out + o] = accumulate ? y[r * out + o] + sum : sum;
  }
}

}  // namespace xq::cuda
