// Grid size for the grid-stride elementwise kernels: enough blocks to fill a GPU, no more than
// the elements need.
#pragma once

#include <cstdint>

namespace xq::cuda {

inline constexpr unsigned kElementwiseThreads = 256;

inline unsigned ElementwiseBlocks(int64_t n) {
  const int64_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
}

}  // namespace xq::cuda
