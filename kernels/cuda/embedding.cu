#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchEmbedding(const int32_t* tokens, int64_t count, const float* table, float* out,
                     int64_t hidden, cudaStream_t stream) {
  if (count <= 0) return;
  XQ_LAUNCH(EmbeddingKernel, static_cast<unsigned>(count), 128, 0, stream, tokens, table, out,
            hidden);
}

void LaunchQEmbedding(QWeightType type, const int32_t* tokens, int64_t count, const uint8_t* table,
                      float* out, int64_t hidden, cudaStream_t stream) {
  if (count <= 0) return;
  const auto grid = static_cast<unsigned>(count);
  switch (type) {
    case QWeightType::kQ4_0:
      XQ_LAUNCH(QEmbeddingKernel<QWeightType::kQ4_0>, grid, 64, 0, stream, tokens, table, out,
                hidden);
      return;
    case QWeightType::kQ4_1:
      XQ_LAUNCH(QEmbeddingKernel<QWeightType::kQ4_1>, grid, 64, 0, stream, tokens, table, out,
                hidden);
      return;
    case QWeightType::kQ8_0:
      XQ_LAUNCH(QEmbeddingKernel<QWeightType::kQ8_0>, grid, 64, 0, stream, tokens, table, out,
                hidden);
      return;
  }
}

}  // namespace xq::cuda
