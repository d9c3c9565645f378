// y[rows, out] (+)= x[rows, in] * w[out, in]^T for a matrix kept in GGML blocks and a batch of
// rows too many for the GEMV (decode of many sequences), on tensor cores: each CUDA block
// decodes a 64-feature x 128-input stage of the blocks into shared memory as fp16 once for 64
// rows of x, and its warps multiply with mma.sync (warp_mma.cuh). The products are those of the
// dequantize-then-cuBLAS path (fp16 weights and activations, fp32 sums) without writing an fp16
// copy of the matrix to memory and reading it back. When rows x features make too few CUDA blocks
// to fill the GPU (a K/V projection of 1024 features is 16 of them at 64 rows), the inputs are
// split over grid.z: each split writes its partial sums and QMmaReduceKernel adds them in split
// order, so the result does not depend on how the splits were scheduled.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/half_vectors.cuh"
#include "kernels/cuda/qweight_blocks.cuh"
#include "kernels/cuda/warp_mma.cuh"

namespace xq::cuda {

inline constexpr int kQMmaWarps = 4;
inline constexpr int kQMmaRows = 16 * kQMmaWarps;   // rows of x a CUDA block takes: 16 a warp
inline constexpr int kQMmaFeatures = 64;            // output features a CUDA block takes
inline constexpr int kQMmaStage = 4 * kGgmlBlock;   // inputs per stage in shared memory
inline constexpr int kQMmaStride = kQMmaStage + 8;  // halves a shared row: 8 of padding (banks)

__host__ __device__ inline constexpr size_t QMmaSharedBytes() {
  return static_cast<size_t>((kQMmaRows + kQMmaFeatures) * kQMmaStride) * sizeof(uint16_t);
}
static_assert(QMmaSharedBytes() <= 48 * 1024, "past 48 KiB a launch needs an opt-in attribute");

// Split z of gridDim.z takes the stages [z per, (z + 1) per) of the ceil(in / kQMmaStage), per =
// ceil(stages / gridDim.z) (the launcher picks splits that leave none empty).
__device__ __forceinline__ void QMmaSplitInputs(int64_t in, int64_t* begin, int64_t* end) {
  const int64_t stages = (in + kQMmaStage - 1) / kQMmaStage;
  const int64_t per = (stages + gridDim.z - 1) / gridDim.z;
  *begin = static_cast<int64_t>(blockIdx.z) * per * kQMmaStage;
  *end = *begin + per * kQMmaStage < in ? *begin + per * kQMmaStage : in;
}

// grid = (ceil(rows / kQMmaRows), ceil(out / kQMmaFeatures), splits): consecutive CUDA blocks
// share a feature tile (its weights stay in L2), block = kQMmaWarps * 32, shared =
// QMmaSharedBytes(). Warp w takes rows 16 w .. 16 w + 15 of the block's, against all its 64
// features (8 tiles of 8). One split: y (+)= the sums; more: split z writes its sums to
// partials + z rows out, for QMmaReduceKernel.
template <GgmlType T>
__global__ void QMmaGemmKernel(const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                               int64_t rows, float* y, bool accumulate, float* partials) {
  XQ_SHARED(uint16_t, smem);
  uint16_t* xs = smem;                            // [kQMmaRows][kQMmaStride]
  uint16_t* ws = smem + kQMmaRows * kQMmaStride;  // [kQMmaFeatures][kQMmaStride]
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kQMmaRows;
  const int64_t feature0 = static_cast<int64_t>(blockIdx.y) * kQMmaFeatures;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int fg = lane / 4, ft = lane % 4;
  const int64_t groups = in / kGgmlBlock;  // 32-value groups per weight row
  const int64_t row_bytes = QRowBytes(T, in);
  float acc[kQMmaFeatures / 8][4];
  XQ_UNROLL
  for (int nt = 0; nt < kQMmaFeatures / 8; ++nt) {
    XQ_UNROLL
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.0f;
  }
  int64_t k_begin, k_end;
  QMmaSplitInputs(in, &k_begin, &k_end);
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kQMmaStage) {
    __syncthreads();  // every warp is done with the previous stage
    // x: 8 halves per thread-step (in is a multiple of 32, so a run is all in or all out).
    for (int e = static_cast<int>(threadIdx.x); e < kQMmaRows * kQMmaStage / 8;
         e += static_cast<int>(blockDim.x)) {
      const int r = e / (kQMmaStage / 8), c = e % (kQMmaStage / 8) * 8;
      const bool held = row0 + r < rows && k0 + c < in;
      alignas(16) uint16_t run[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (held) CopyHalves8(run, x + (row0 + r) * in + k0 + c);  // in: a multiple of 32
      CopyHalves8(xs + r * kQMmaStride + c, run);                // rows of 272 bytes
    }
    // w: one 32-value group per thread-step, decoded once for all the CUDA block's rows.
    for (int e = static_cast<int>(threadIdx.x); e < kQMmaFeatures * (kQMmaStage / kGgmlBlock);
         e += static_cast<int>(blockDim.x)) {
      const int f = e / (kQMmaStage / kGgmlBlock), b = e % (kQMmaStage / kGgmlBlock);
      const int64_t group = k0 / kGgmlBlock + b;
      float v[kGgmlBlock];
      if (feature0 + f < out && group < groups) {
        DecodeRowGroup<T>(w + (feature0 + f) * row_bytes, group, v);
      } else {
        XQ_UNROLL
        for (int j = 0; j < kGgmlBlock; ++j) v[j] = 0.0f;
      }
      alignas(16) uint16_t halves[kGgmlBlock];
      XQ_UNROLL
      for (int j = 0; j < kGgmlBlock; ++j) halves[j] = FloatToHalfBits(v[j]);
      uint16_t* dst = ws + f * kQMmaStride + b * kGgmlBlock;  // 272 f + 64 b bytes in
      XQ_UNROLL
      for (int j = 0; j < kGgmlBlock; j += 8) CopyHalves8(dst + j, halves + j);
    }
    __syncthreads();
    if (row0 + warp * 16 >= rows) continue;  // a warp with no rows (uniform across it)
    XQ_UNROLL
    for (int ks = 0; ks < kQMmaStage / 16; ++ks) {
      const uint16_t* xr = xs + (warp * 16 + fg) * kQMmaStride + ks * 16 + 2 * ft;
      const uint32_t a[4] = {LoadHalfPair(xr), LoadHalfPair(xr + 8 * kQMmaStride),
                             LoadHalfPair(xr + 8), LoadHalfPair(xr + 8 * kQMmaStride + 8)};
      XQ_UNROLL
      for (int nt = 0; nt < kQMmaFeatures / 8; ++nt) {
        const uint16_t* wr = ws + (nt * 8 + fg) * kQMmaStride + ks * 16 + 2 * ft;
        const uint32_t b[2] = {LoadHalfPair(wr), LoadHalfPair(wr + 8)};
        MmaM16N8K16(acc[nt], a, b);
      }
    }
  }
  // acc[nt][i]: row 16 w + fg + 8 (i / 2), feature 8 nt + 2 ft + i % 2 of the block's.
  float* dst = partials != nullptr ? partials + blockIdx.z * rows * out : y;
  const bool add = accumulate && partials == nullptr;
  XQ_UNROLL
  for (int nt = 0; nt < kQMmaFeatures / 8; ++nt) {
    XQ_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int64_t r = row0 + warp * 16 + fg + 8 * (i >> 1);
      const int64_t f = feature0 + nt * 8 + 2 * ft + (i & 1);
      if (r < rows && f < out) {
        float* at = dst + r * out + f;
        *at = add ? *at + acc[nt][i] : acc[nt][i];
      }
    }
  }
}

// y[i] (+)= partials[0][i] + partials[1][i] + ... in split order, i < n = rows out
// (grid-stride: any grid, any block).
__global__ void QMmaReduceKernel(const float* partials, int splits, int64_t n, float* y,
                                 bool accumulate) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float sum = accumulate ? y[i] : 0.0f;
    for (int z = 0; z < splits; ++z) sum += partials[z * n + i];
    y[i] = sum;
  }
}

}  // namespace xq::cuda
