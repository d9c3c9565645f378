// The first maximum of a row, exactly as the CPU's ArgMax: the first index holding the largest
// non-NaN value; -inf counts, so a row masked to -inf everywhere yields its first token, and a
// row of NaN its token 0. Greedy sampling on the device is this, over the edited row.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

inline constexpr int32_t kNoToken = 0x7fffffff;

// (value, id) pairs ordered larger value first, then smaller id: `a` loses to `b`.
__device__ __forceinline__ bool LosesTo(float a, int32_t a_id, float b, int32_t b_id) {
  return b > a || (b == a && b_id < a_id);
}

// The warp's winning (value, id); every lane gets it.
__device__ __forceinline__ void WarpArgMax(float& best, int32_t& id) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(kFullWarp, best, offset);
    const int32_t other_id = __shfl_xor_sync(kFullWarp, id, offset);
    if (LosesTo(best, id, other, other_id)) {
      best = other;
      id = other_id;
    }
  }
}

// Shared memory BlockFirstMaximum needs.
inline constexpr unsigned kFirstMaximumSharedBytes = kWarpSize * (sizeof(float) + sizeof(int32_t));

// The row's first maximum, returned to every thread of the block (blockDim.x a multiple of 32, at
// most 1024). scratch: kFirstMaximumSharedBytes of shared memory.
__device__ __forceinline__ int32_t BlockFirstMaximum(const float* row, int64_t vocab,
                                                     unsigned char* scratch) {
  float* best_values = reinterpret_cast<float*>(scratch);
  int32_t* best_ids = reinterpret_cast<int32_t*>(best_values + kWarpSize);
  // Each thread scans its indices in increasing order, so keeping the first of equal values
  // (and taking a -inf only as a first find) leaves its first maximum. NaN never wins.
  float best = -__builtin_huge_valf();
  int32_t id = kNoToken;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    if (v > best || (v == best && id == kNoToken)) {
      best = v;
      id = static_cast<int32_t>(i);
    }
  }
  WarpArgMax(best, id);
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  if (lane == 0) {
    best_values[warp] = best;
    best_ids[warp] = id;
  }
  __syncthreads();
  best = lane < warps ? best_values[lane] : -__builtin_huge_valf();
  id = lane < warps ? best_ids[lane] : kNoToken;
  WarpArgMax(best, id);
  __syncthreads();                 // scratch may be reused right after
  return id == kNoToken ? 0 : id;  // all NaN: the CPU's first token
}

}  // namespace xq::cuda
