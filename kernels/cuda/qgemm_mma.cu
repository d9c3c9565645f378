#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/elementwise_launch.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/qgemm_mma.cuh"

namespace xq::cuda {

int QMmaSplits(int64_t rows, int64_t out, int64_t in) {
  const int64_t tiles =
      ((rows + kQMmaRows - 1) / kQMmaRows) * ((out + kQMmaFeatures - 1) / kQMmaFeatures);
  const int64_t stages = (in + kQMmaStage - 1) / kQMmaStage;
  if (tiles <= 0 || stages <= 1 || tiles >= kQMmaTargetBlocks) return 1;
  const int64_t wanted =
      std::min({(kQMmaTargetBlocks + tiles - 1) / tiles, stages, kQMmaMaxSplits});
  // As many splits as the stages per split need, so that none is empty.
  const int64_t per = (stages + wanted - 1) / wanted;
  return static_cast<int>((stages + per - 1) / per);
}

int64_t QMmaPartialFloats(int64_t rows, int64_t out, int64_t in) {
  const int splits = QMmaSplits(rows, out, in);
  return splits > 1 ? splits * rows * out : 0;
}

void LaunchQMmaGemm(GgmlType type, const uint8_t* w, int64_t out, int64_t in, const uint16_t* x,
                    int64_t rows, float* y, bool accumulate, cudaStream_t stream, float* workspace,
                    int64_t workspace_floats, int splits) {
  if (rows <= 0 || out <= 0) return;
  if (in % QBlockValues(type) != 0) {
    throw std::invalid_argument("quantized GEMM: in a multiple of the block");
  }
  // x is read 8 halves (16 bytes) at a time.
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    throw std::invalid_argument("quantized GEMM: x must be 16-byte aligned");
  }
  const bool chosen = splits <= 0;
  if (chosen) splits = QMmaSplits(rows, out, in);
  const bool fits = workspace != nullptr && splits * rows * out <= workspace_floats;
  if (chosen && !fits) splits = 1;
  // Split z takes stages [z per, (z + 1) per) (QMmaSplitInputs): the last must get one.
  const int64_t stages = (in + kQMmaStage - 1) / kQMmaStage;
  const int64_t per = (stages + splits - 1) / splits;
  if (splits > 1 && ((splits - 1) * per >= stages || !fits)) {
    throw std::invalid_argument("quantized GEMM: " + std::to_string(splits) +
                                " splits need a stage each and room in the workspace");
  }
  const dim3 grid(static_cast<unsigned>((rows + kQMmaRows - 1) / kQMmaRows),
                  static_cast<unsigned>((out + kQMmaFeatures - 1) / kQMmaFeatures),
                  static_cast<unsigned>(splits));
  const unsigned threads = kQMmaWarps * kWarpSize;
  float* partials = splits > 1 ? workspace : nullptr;
  ForDeviceBlockType(type, [&](auto t) {
    XQ_LAUNCH(QMmaGemmKernel<decltype(t)::value>, grid, threads, QMmaSharedBytes(), stream, w, out,
              in, x, rows, y, accumulate, partials);
  });
  if (partials == nullptr) return;
  XQ_LAUNCH(QMmaReduceKernel, ElementwiseBlocks(rows * out), kElementwiseThreads, 0, stream,
            static_cast<const float*>(partials), splits, rows * out, y, accumulate);
}

}  // namespace xq::cuda
