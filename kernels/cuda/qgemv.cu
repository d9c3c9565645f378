#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/qgemv.cuh"

namespace xq::cuda {
namespace {

// Rows rounded up to an instantiated R (1, 2, 4, 8), so each lane's sums stay in registers.
template <GgmlType T>
void Launch(const uint8_t* w, int64_t out, int64_t in, const uint16_t* x, int64_t rows, float* y,
            bool accumulate, cudaStream_t stream) {
  const auto grid = static_cast<unsigned>((out + kQGemvWarps - 1) / kQGemvWarps);
  const unsigned threads = kQGemvWarps * kWarpSize;
  if (rows <= 1) {
    XQ_LAUNCH((QGemvKernel<T, 1>), grid, threads, 0, stream, w, out, in, x, rows, y, accumulate);
  } else if (rows <= 2) {
    XQ_LAUNCH((QGemvKernel<T, 2>), grid, threads, 0, stream, w, out, in, x, rows, y, accumulate);
  } else if (rows <= 4) {
    XQ_LAUNCH((QGemvKernel<T, 4>), grid, threads, 0, stream, w, out, in, x, rows, y, accumulate);
  } else {
    XQ_LAUNCH((QGemvKernel<T, 8>), grid, threads, 0, stream, w, out, in, x, rows, y, accumulate);
  }
}

}  // namespace

void LaunchQGemv(GgmlType type, const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                 int64_t rows, float* y, bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || out <= 0) return;
  if (rows > kQGemvMaxRows || in % QBlockValues(type) != 0) {
    throw std::invalid_argument("quantized GEMV: at most 8 rows, in a multiple of the block");
  }
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    throw std::invalid_argument("quantized GEMV: x must be 16-byte aligned");  // read 16 B a time
  }
  ForDeviceBlockType(type, [&](auto t) {
    Launch<decltype(t)::value>(w, out, in, x, rows, y, accumulate, stream);
  });
}

}  // namespace xq::cuda
