#include <stdexcept>

#include "kernels/cuda/dequantize_weights.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchDequantizeToHalf(GgmlType type, const uint8_t* w, int64_t rows, int64_t in,
                            uint16_t* out, cudaStream_t stream) {
  if (in % QBlockValues(type) != 0) {
    throw std::invalid_argument("dequantizing weights: in a multiple of the block");
  }
  const int64_t groups = rows * (in / kGgmlBlock);
  if (groups <= 0) return;
  constexpr unsigned kThreads = 256;
  const auto grid = static_cast<unsigned>((groups + kThreads - 1) / kThreads);
  ForDeviceBlockType(type, [&](auto t) {
    XQ_LAUNCH(DequantizeToHalfKernel<decltype(t)::value>, grid, kThreads, 0, stream, w, groups,
              out);
  });
}

}  // namespace xq::cuda
