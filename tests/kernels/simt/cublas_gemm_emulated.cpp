// The GEMM wrapper's contract (kernels/cuda/gemm.h) as a scalar loop over "device" memory, for
// the CUDA runner under the SIMT emulation. Checks that every operand is device memory, as
// cuBLAS would fault otherwise.
#include <stdexcept>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/gemm.h"

namespace xq::cuda {

Gemm::Gemm(cudaStream_t stream) : stream_(stream) {}

Gemm::~Gemm() = default;

void Gemm::Run(const uint16_t* x, const uint16_t* w, float* y, int64_t rows, int64_t out,
               int64_t in, bool accumulate, int64_t y_stride) {
  if (rows <= 0 || out <= 0) return;
  const int64_t ldy = y_stride > 0 ? y_stride : out;
  const auto bytes = [](int64_t n, size_t size) { return static_cast<size_t>(n) * size; };
  if (!simt::IsDeviceRange(x, bytes(rows * in, 2)) || !simt::IsDeviceRange(w, bytes(out * in, 2)) ||
      !simt::IsDeviceRange(y, bytes((rows - 1) * ldy + out, 4))) {
    throw std::runtime_error("emulated cuBLAS: an operand is not device memory");
  }
  // Ordered on the stream as cuBLAS's kernels are: recorded while a graph is captured.
  simt::Enqueue([=] {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        float sum = 0.0f;
        for (int64_t i = 0; i < in; ++i) {
          sum += HalfBitsToFloat(x[r * in + i]) * HalfBitsToFloat(w[o * in + i]);
        }
        y[r * ldy + o] = accumulate ? y[r * ldy + o] + sum : sum;
      }
    }
  });
}

}  // namespace xq::cuda
