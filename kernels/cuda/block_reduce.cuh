// Block-wide reductions of any shuffleable type (float, double, 64-bit integers) with any
// associative op: warp shuffles, then one slot per warp in shared memory.
#pragma once

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

struct AddOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

// op over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// scratch: 32 T of shared memory.
template <typename T, typename Op>
__device__ __forceinline__ T BlockReduce(T v, Op op, T identity, T* scratch) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = op(v, __shfl_xor_sync(kFullWarp, v, offset));
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = op(v, __shfl_xor_sync(kFullWarp, v, offset));
  }
  __syncthreads();  // scratch may be reused right after
  return v;
}

}  // namespace xq::cuda
