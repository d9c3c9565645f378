#include "kernels/cuda/ops.h"
#include "kernels/cuda/write_window_rows.cuh"

namespace xq::cuda {

void LaunchWriteWindowRows(const XqBatchKv& kv, int64_t rows, int64_t layer, const float* k,
                           const float* v, cudaStream_t stream) {
  if (rows <= 0) return;
  XQ_LAUNCH(WriteWindowRowsKernel, static_cast<unsigned>(rows), 128, 0, stream, kv, layer, k, v);
}

}  // namespace xq::cuda
