// CUDA runtime errors as xq::Error, naming what failed.
#pragma once

#include <string>

#include "engine/common/error.h"
#include "kernels/cuda/cuda_runtime.h"

namespace xq {

inline void CheckCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(std::string("CUDA ") + what + ": " + cudaGetErrorString(status));
  }
}

}  // namespace xq
