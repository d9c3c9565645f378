#include "kernels/cuda/allowed_tokens.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchAllowedTokens(float* logits, int64_t vocab, const int64_t* rows, int64_t count,
                         const RowSampling* params, const uint32_t* allowed, cudaStream_t stream) {
  if (count <= 0) return;
  XQ_LAUNCH(AllowedTokensKernel, static_cast<unsigned>(count), 256, 0, stream, logits, vocab, rows,
            params, allowed);
}

}  // namespace xq::cuda
