#include <stdexcept>

#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchEmbedding(const int32_t* tokens, int64_t count, const float* table, float* out,
                     int64_t hidden, cudaStream_t stream) {
  if (count <= 0) return;
  XQ_LAUNCH(EmbeddingKernel, static_cast<unsigned>(count), 128, 0, stream, tokens, table, out,
            hidden);
}

void LaunchQEmbedding(GgmlType type, const int32_t* tokens, int64_t count, const uint8_t* table,
                      float* out, int64_t hidden, cudaStream_t stream) {
  if (count <= 0) return;
  if (hidden % QBlockValues(type) != 0) {
    throw std::invalid_argument("quantized embedding: hidden a multiple of the block");
  }
  const auto grid = static_cast<unsigned>(count);
  ForDeviceBlockType(type, [&](auto t) {
    XQ_LAUNCH(QEmbeddingKernel<decltype(t)::value>, grid, 64, 0, stream, tokens, table, out,
              hidden);
  });
}

}  // namespace xq::cuda
