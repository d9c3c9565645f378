// fp16 values moved 2 or 8 at a time (one 32-bit register, one 16-byte access) by the
// tensor-core kernels, whose layouts keep those addresses aligned. Under the SIMT emulation,
// plain copies.
#pragma once

#include <cstdint>
#include <cstring>
#if !defined(__CUDACC__)
#include <stdexcept>
#include <string>
#endif

#include "kernels/cuda/cuda_compat.h"

namespace xq::cuda {

#if !defined(__CUDACC__)
// Under the emulation, a misaligned vector access fails as it would fault on a GPU.
inline void RequireAligned(const void* p, uintptr_t bytes) {
  if (reinterpret_cast<uintptr_t>(p) % bytes != 0) {
    throw std::logic_error("simt: a vector access of " + std::to_string(bytes) +
                           " bytes at a misaligned address");
  }
}
#endif

// Two fp16 values at a 4-byte aligned address, as one register (the lower address low).
__device__ __forceinline__ uint32_t LoadHalfPair(const uint16_t* p) {
  uint32_t v;
#if defined(__CUDACC__)
  memcpy(&v, __builtin_assume_aligned(p, 4), 4);
#else
  RequireAligned(p, 4);
  memcpy(&v, p, 4);
#endif
  return v;
}

// 8 fp16 values from src to dst, both 16-byte aligned.
__device__ __forceinline__ void CopyHalves8(uint16_t* dst, const uint16_t* src) {
#if defined(__CUDACC__)
  // CUDA's vector-type access idiom (one 16-byte load and store; the layouts keep it aligned).
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
#else
  RequireAligned(dst, 16);
  RequireAligned(src, 16);
  memcpy(dst, src, 16);
#endif
}

}  // namespace xq::cuda
