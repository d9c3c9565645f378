#include "kernels/cuda/logit_edits.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchLogitEdits(float* logits, int64_t vocab, const int64_t* rows, int64_t count,
                      const int64_t* edit_indptr, const LogitEdit* edits, cudaStream_t stream) {
  if (count <= 0) return;
  XQ_LAUNCH(LogitEditsKernel, static_cast<unsigned>(count), 128, 0, stream, logits, vocab, rows,
            edit_indptr, edits);
}

}  // namespace xq::cuda
