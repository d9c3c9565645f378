// What makes a kernels/include header device-safe: host-and-device function markers and the
// 16-bit float storage type. These headers hold only POD structs and inline functions that nvcc
// and the host compiler both accept (no std:: containers, no _Float16, no engine headers).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define XQ_HOST_DEVICE __host__ __device__
#else
#define XQ_HOST_DEVICE
#endif

namespace xq {

// The bits of one IEEE binary16 value. Host code reads it as _Float16, CUDA code as __half: the
// same two bytes, without a type one of the compilers cannot parse.
struct Fp16 {
  uint16_t bits;
};
static_assert(sizeof(Fp16) == 2 && alignof(Fp16) == 2);

}  // namespace xq
