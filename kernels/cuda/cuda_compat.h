// What the CUDA kernel sources (kernels/cuda/*.cuh) may use beyond plain C++: under nvcc the real
// thing; under the host compiler the test-only SIMT emulation (tests/kernels/simt/simt.h), which
// runs every thread of a block with real barriers, shared memory and warp shuffles so that the
// same kernel source is checked on a CPU. Kernels use only what both provide: dynamic shared
// memory through XQ_SHARED, __syncthreads, full-warp __shfl_xor_sync / __shfl_sync, and the
// math below.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
// Dynamic shared memory (sized at launch), viewed as T.
#define XQ_SHARED(T, name)                                       \
  extern __shared__ __align__(16) unsigned char xq_shared_raw[]; \
  T* name = reinterpret_cast<T*>(xq_shared_raw)
// Fully unrolls the next loop (constant bound), so arrays it indexes can live in registers.
#define XQ_UNROLL _Pragma("unroll")
// A kernel launch on a stream; launchers (kernels/cuda/*.cu) use it so that they compile under
// the emulation too.
#define XQ_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)
#elif defined(XQ_SIMT_EMULATION)
#include "tests/kernels/simt/simt.h"
#define XQ_UNROLL
#define XQ_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  ((void)(stream), ::xq::simt::Launch(dim3(grid), dim3(block), (shared_bytes), kernel, __VA_ARGS__))
#else
#error "kernels/cuda sources compile under nvcc or the test-only SIMT emulation"
#endif

namespace xq::cuda {

inline constexpr unsigned kFullWarp = 0xffffffffu;
inline constexpr int kWarpSize = 32;

// binary16 <-> float, round to nearest even (the CPU reference's _Float16 conversions).
__device__ __forceinline__ float HalfBitsToFloat(uint16_t bits) {
#if defined(__CUDACC__)
  return __half2float(__ushort_as_half(bits));
#else
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return static_cast<float>(h);
#endif
}

__device__ __forceinline__ uint16_t FloatToHalfBits(float v) {
#if defined(__CUDACC__)
  return __half_as_ushort(__float2half_rn(v));
#else
  const _Float16 h = static_cast<_Float16>(v);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
#endif
}

// x rounded to the nearest fp16 value.
__device__ __forceinline__ float RoundHalf(float x) { return HalfBitsToFloat(FloatToHalfBits(x)); }

// The fp16 value stored (as bits, any alignment) at p.
__device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  uint16_t bits;
  memcpy(&bits, p, 2);
  return HalfBitsToFloat(bits);
}

// Sum over the 32 lanes of a warp; every lane gets the total.
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(kFullWarp, v, offset);
  }
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// Needs 32 floats of shared memory at `scratch`.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  v = WarpSum(v);
  __syncthreads();  // scratch may be reused right after
  return v;
}

}  // namespace xq::cuda
