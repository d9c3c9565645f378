#include "kernels/cuda/ops.h"
#include "kernels/cuda/sample_tokens.cuh"

namespace xq::cuda {

void LaunchSampleTokens(const float* logits, int64_t vocab, const int64_t* rows,
                        const RowSampling* params, int64_t count, int32_t* tokens,
                        cudaStream_t stream) {
  if (count <= 0) return;
  constexpr unsigned kThreads = 256;
  XQ_LAUNCH(SampleTokensKernel, static_cast<unsigned>(count), kThreads,
            SampleTokensSharedBytes(kThreads), stream, logits, vocab, rows, params, tokens);
}

}  // namespace xq::cuda
