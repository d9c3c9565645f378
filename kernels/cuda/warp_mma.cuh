// One warp's tensor-core product: D += A B for a 16x16 fp16 A, a 16x8 fp16 B and a 16x8 fp32
// accumulator (PTX mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, sm_80 and later). Each
// lane holds fixed elements of each matrix, as the PTX ISA's "Matrix Fragments for
// mma.m16n8k16 with floating point type" lays them out; with g = lane / 4 and t = lane % 4:
//   A (a[0..3], two halves each, low half first): a[0] row g,   columns 2t, 2t + 1
//                                                 a[1] row g+8, columns 2t, 2t + 1
//                                                 a[2] row g,   columns 2t + 8, 2t + 9
//                                                 a[3] row g+8, columns 2t + 8, 2t + 9
//   B (b[0..1]):                                  b[0] rows 2t, 2t + 1 of column g
//                                                 b[1] rows 2t + 8, 2t + 9 of column g
//   C / D (d[0..3]):                              d[0], d[1] row g,   columns 2t, 2t + 1
//                                                 d[2], d[3] row g+8, columns 2t, 2t + 1
// Under the SIMT emulation the warp's fragments are gathered, the matrices rebuilt from this
// layout and each lane's elements computed in fp32, so a kernel that puts an element in the
// wrong register is wrong there as it would be on a GPU.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

// Two fp16 values in one register, `lo` in the low half (the fragments' element order).
__device__ __forceinline__ uint32_t PackHalves(float lo, float hi) {
  return static_cast<uint32_t>(FloatToHalfBits(lo)) |
         (static_cast<uint32_t>(FloatToHalfBits(hi)) << 16);
}

// Two fp16 values already in memory as bits (lo first).
__device__ __forceinline__ uint32_t PackHalfBits(uint16_t lo, uint16_t hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

// Every lane of the warp, together: d += A B with the fragments above.
__device__ __forceinline__ void MmaM16N8K16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(__CUDACC__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  struct Fragments {
    uint32_t a[4], b[2];
  };
  Fragments mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  Fragments all[kWarpSize];
  ::xq::simt::WarpGather(&mine, sizeof(mine), all);
  float A[16][16], B[16][8];
  for (int l = 0; l < kWarpSize; ++l) {
    const int g = l / 4, t = l % 4;
    for (int r = 0; r < 4; ++r) {
      for (int h = 0; h < 2; ++h) {
        const auto bits = [&](uint32_t reg) { return static_cast<uint16_t>(reg >> (16 * h)); };
        A[g + 8 * (r & 1)][2 * t + h + 8 * (r >> 1)] = HalfBitsToFloat(bits(all[l].a[r]));
        if (r < 2) B[2 * t + h + 8 * r][g] = HalfBitsToFloat(bits(all[l].b[r]));
      }
    }
  }
  const int lane = static_cast<int>(::xq::simt::tls.linear) % kWarpSize;
  const int g = lane / 4, t = lane % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
    float sum = 0.0f;  // fp16 products are exact in fp32
    for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
    d[i] += sum;
  }
#endif
}

}  // namespace xq::cuda
