#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/qgemm_mma.cuh"

namespace xq::cuda {

void LaunchQMmaGemm(GgmlType type, const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                    int64_t rows, float* y, bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || out <= 0) return;
  if (in % QBlockValues(type) != 0) {
    throw std::invalid_argument("quantized GEMM: in a multiple of the block");
  }
  // x is read 8 halves (16 bytes) at a time.
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    throw std::invalid_argument("quantized GEMM: x must be 16-byte aligned");
  }
  const dim3 grid(static_cast<unsigned>((rows + kQMmaRows - 1) / kQMmaRows),
                  static_cast<unsigned>((out + kQMmaFeatures - 1) / kQMmaFeatures));
  const unsigned threads = kQMmaWarps * kWarpSize;
  ForDeviceBlockType(type, [&](auto t) {
    XQ_LAUNCH(QMmaGemmKernel<decltype(t)::value>, grid, threads, QMmaSharedBytes(), stream, w, out,
              in, x, rows, y, accumulate);
  });
}

}  // namespace xq::cuda
