#include "kernels/cuda/dequantize_weights.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchDequantizeToHalf(QWeightType type, const uint8_t* w, int64_t rows, int64_t in,
                            uint16_t* out, cudaStream_t stream) {
  const int64_t blocks = rows * (in / kGgmlBlock);
  if (blocks <= 0) return;
  constexpr unsigned kThreads = 256;
  const auto grid = static_cast<unsigned>((blocks + kThreads - 1) / kThreads);
  ForQWeightType(type, [&](auto t) {
    XQ_LAUNCH(DequantizeToHalfKernel<decltype(t)::value>, grid, kThreads, 0, stream, w, blocks,
              out);
  });
}

}  // namespace xq::cuda
